"""Pausing Python's cyclic garbage collector while a chunk's instances are built.

Building ``old`` and ``new`` for a chunk of 2,000 rows allocates some 20,000 container
objects (instances, their ``_state``, their attribute dicts, copies of JSON values), all
alive until the chunk is done. Each 700 allocations start a young collection that finds
nothing to free, and every tenth of those an older one; as the objects are promoted,
full collections of the whole process follow: about a fifth of a 10,000-row
``update()``'s CPU time on Python 3.11. The objects built form no reference cycles, so
nothing is lost by collecting once, after the loop, instead of during it.

:func:`paused` is only used around loops that run no user code (no model ``__init__``,
``from_db()`` or converter of a custom field), and it restores the collector only if it
was on when the loop started.
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
