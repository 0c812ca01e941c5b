"""Integration tests of the utility kind of entry."""
