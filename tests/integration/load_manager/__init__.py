"""Integration tests of the load manager kind of entry."""
