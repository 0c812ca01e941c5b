"""Integration tests of the dmesh kind of entry."""
