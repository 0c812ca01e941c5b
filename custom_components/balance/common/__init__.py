"""Helpers every kind of entry uses: the entry-kind contract and listener lists."""
