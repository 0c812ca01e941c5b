"""Integration tests of the analytics kind of entry."""
