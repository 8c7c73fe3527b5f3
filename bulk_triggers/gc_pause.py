"""Pausing Python's cyclic garbage collector while a chunk is read and its rows are built.

Reading a chunk of 2,000 rows and building its ``old`` and ``new`` allocates some 25,000
container objects (rows, instances, their ``_state`` and attribute dicts, JSON values and
their copies), all alive until the chunk is done. Each 700 allocations start a young
collection that finds nothing to free, and every tenth of those an older one; as the
objects are promoted, full collections of the whole process follow: about a fifth of a
10,000-row ``update()``'s CPU time on Python 3.11. Collecting once after the block,
instead of during it, loses nothing.

:func:`paused` is used around the reading of a chunk (Django's compiler and the fields'
converters) and the building of its plain instances, never around a trigger, a
condition or a model's own ``__init__``/``from_db()``; it restores the collector only if
it was on when the block started. Cycles made meanwhile (by a custom field's converter,
say) are collected once it is back on: reference counting frees everything else as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused"]


@contextmanager
def paused() -> Iterator[None]:
    """Keep the cyclic garbage collector off while the block runs (reference counting stays)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
