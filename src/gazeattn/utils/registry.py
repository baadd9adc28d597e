"""A registry: names → entries, in registration order, that also serves as the allowed-value list of the names.

Iterating, ``in``, ``len`` and ``repr`` behave like the tuple of names (``('a', 'b')``), so a registry is what
argparse ``choices``, config checks and error messages read, and they see every registration, including one made
after they were defined (a test's head or variant). Looking up an unknown name is a ValueError listing the names.
The attention heads (:data:`gazeattn.models.attention.ATTENTIONS`) and the training variants
(:data:`gazeattn.train.variants.VARIANTS`) are registries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["Registry", "Choices"]

T = TypeVar("T")


class Choices:
    """A live allowed-value list: a registry's names after ``extra`` values (e.g. ``""`` for "the default")."""

    def __init__(self, registry: "Registry", extra: tuple[str, ...]):
        self.registry, self.extra = registry, extra

    def __contains__(self, name: object) -> bool:
        return name in self.extra or name in self.registry

    def __iter__(self) -> Iterator[str]:
        return iter((*self.extra, *self.registry))

    def __repr__(self) -> str:
        return repr(tuple(self))


class Registry(Mapping[str, T], Generic[T]):
    """``what`` names an entry in messages ("attention", "variant")."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` as ``name`` (a ValueError if the name is taken); returns the entry."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> T:
        """Take ``name`` out again (tests that register their own entries)."""
        return self._entries.pop(name)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.what} {name!r}; one of {self!r}") from None

    def get(self, name, default=None):  # type: ignore[override]
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return repr(tuple(self._entries))

    def allowing(self, *extra: str) -> Choices:
        """The names after ``extra``, as a live allowed-value list."""
        return Choices(self, extra)
