"""Callbacks that entities register with a coordinator or manager, and how they are called.

Every coordinator used to keep its own lists and its own remove-lambdas; one class does it, so
removal during a notification and a double removal behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from homeassistant.core import CALLBACK_TYPE


class Listeners[*Args]:
    """A list of callbacks called with the same arguments."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[*Args], None]] = []

    def add(self, callback: Callable[[*Args], None]) -> CALLBACK_TYPE:
        """Register ``callback``; the returned function unregisters it (twice is harmless)."""
        self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove

    def notify(self, *args: *Args) -> None:
        # a copy: a callback may unregister itself (an entity removed by what it was told)
        for callback in list(self._callbacks):
            callback(*args)


class KeyedListeners[K: Hashable, *Args]:
    """Callbacks filed under a key (a module, a meter channel); only that key's are called."""

    def __init__(self) -> None:
        self._by_key: dict[K, Listeners[*Args]] = {}

    def add(self, key: K, callback: Callable[[*Args], None]) -> CALLBACK_TYPE:
        return self._by_key.setdefault(key, Listeners()).add(callback)

    def notify(self, key: K, *args: *Args) -> None:
        if (listeners := self._by_key.get(key)) is not None:
            listeners.notify(*args)
