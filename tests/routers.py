"""Route every query of a test to the database that the test is parametrized with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

current_alias: ContextVar[str] = ContextVar("current_alias", default="default")


@contextmanager
def routed_to(alias: str) -> Iterator[None]:
    """Send reads and writes that name no database to ``alias`` while the block runs."""
    token = current_alias.set(alias)
    try:
        yield
    finally:
        current_alias.reset(token)


class CurrentDatabaseRouter:
    """A router whose choice follows :func:`routed_to`, so tests need not say ``using``."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        return current_alias.get()

    def db_for_write(self, model: type, **hints: Any) -> str:
        return current_alias.get()

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return True
