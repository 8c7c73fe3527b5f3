"""A stand-in for e-mail: notifications are kept in memory and logged.

Triggers call :func:`send` from an ``on_commit_*`` method, so a notification goes out
only for changes that were committed; the demo command counts :data:`outbox`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    """One message to the holder of an account."""

    database: str
    account_id: int
    order_id: int
    text: str


outbox: list[Notification] = []
_lock = threading.Lock()


def send(notifications: Iterable[Notification]) -> int:
    """Record ``notifications`` in the outbox and log how many; return that number."""
    batch = list(notifications)
    with _lock:
        outbox.extend(batch)
    logger.info("sent %d notification(s)", len(batch))
    return len(batch)


def sent(database: str) -> list[Notification]:
    """Return the notifications sent for changes on ``database``, oldest first."""
    with _lock:
        return [n for n in outbox if n.database == database]


def clear(database: str) -> None:
    """Forget the notifications sent for changes on ``database``."""
    with _lock:
        outbox[:] = [n for n in outbox if n.database != database]
