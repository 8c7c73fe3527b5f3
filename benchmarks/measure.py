"""Measuring one (database, operation, N): every variant, alternating, several repetitions.

Each run starts from the same table state, prepared outside the timed region. Time,
statements and memory come from separate runs, so that neither query capture nor
tracemalloc slows the timed one.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections
from django.test.utils import override_settings

from benchmarks import configs
from benchmarks.app.models import PlainItem, TriggerItem
from benchmarks.databases import reset
from benchmarks.operations import Operation
from bulk_triggers.trigger import TriggerMeta

VARIANTS = ("django", "none", "fast", "pair", "pair_from_load", "ten", "floor")
FAST_OPERATIONS = frozenset({"bulk_update"})
"""The operations measured with ``BULK_TRIGGERS["FAST_BULK_UPDATE"]`` on and no trigger."""
FROM_LOAD_OPERATIONS = frozenset({"save_update"})
"""The operations measured with ``BULK_TRIGGERS["SAVE_OLD_FROM_LOAD"]`` on, before+after."""
FAST = 0.05
"""Seconds: when a variant's median is shorter, the operation gets ``FAST_FACTOR`` times
the rounds, since a few milliseconds are easily disturbed by anything else on the machine."""
FAST_FACTOR = 3
VARIANT_LABELS = {
    "django": "plain Django",
    "none": "bulk_triggers, no trigger",
    "fast": "bulk_triggers, no trigger, FAST_BULK_UPDATE",
    "pair": "bulk_triggers, before+after",
    "pair_from_load": "bulk_triggers, before+after, SAVE_OLD_FROM_LOAD",
    "ten": "bulk_triggers, ten triggers",
    "floor": "hand-written floor",
}


@dataclass
class Measurement:
    """What one variant cost on one (database, operation, N)."""

    db: str
    operation: str
    n: int
    variant: str
    times: list[float] = field(default_factory=list)
    statements: int = 0
    statement_kinds: dict[str, int] = field(default_factory=dict)
    peak_kib: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["median_s"] = self.median
        return data


def variants_of(operation: Operation) -> tuple[str, ...]:
    """Return the variants measured for ``operation`` (the floor only where one exists)."""
    return tuple(
        v
        for v in VARIANTS
        if (v != "floor" or operation.floor is not None)
        and (v != "fast" or operation.name in FAST_OPERATIONS)
        and (v != "pair_from_load" or operation.name in FROM_LOAD_OPERATIONS)
    )


class Runner:
    """Run the variants of operations on one database with the defined trigger configurations."""

    def __init__(
        self,
        db: str,
        using: str,
        triggers: dict[str, tuple[TriggerMeta, ...]],
    ) -> None:
        self.db = db
        self.using = using
        self.triggers = triggers

    def measure(
        self, operation: Operation, n: int, repeat: int, memory: bool = True
    ) -> list[Measurement]:
        """Measure every variant of ``operation`` at ``n`` rows.

        The first run of each variant counts statements, checks the result and warms
        caches; then ``repeat`` timed rounds run the variants in a rotating order (three
        times as many when a variant takes under 50 ms); then, with ``memory``, one
        tracemalloc run per variant.
        """
        variants = variants_of(operation)
        results = {v: Measurement(self.db, operation.name, n, v) for v in variants}
        for variant in variants:
            queries = self._once(operation, variant, n, self._statements)
            kinds = Counter(_kind(query["sql"]) for query in queries)
            results[variant].statements = len(queries)
            results[variant].statement_kinds = dict(sorted(kinds.items()))
            operation.verify(_model(variant), self.using, n)
        rounds = repeat
        round_ = 0
        while round_ < rounds:
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                results[variant].times.append(self._once(operation, variant, n, _timed))
            round_ += 1
            if round_ == repeat and min(r.median for r in results.values()) < FAST:
                rounds = repeat * FAST_FACTOR  # Short runs are the noisiest: take more.
        if memory:
            for variant in variants:
                results[variant].peak_kib = self._once(operation, variant, n, _peak_kib)
        return [results[v] for v in variants]

    def _once(self, operation: Operation, variant: str, n: int, how: Callable[..., Any]) -> Any:
        model = _model(variant)
        run = operation.floor if variant == "floor" else operation.run
        assert run is not None
        config = "pair" if variant == "pair_from_load" else variant
        config = config if config in configs.CONFIGS else "none"
        flags = {"FAST_BULK_UPDATE": variant == "fast"}
        if variant == "pair_from_load":
            flags["SAVE_OLD_FROM_LOAD"] = True
        # Around the preparation too: SAVE_OLD_FROM_LOAD keeps values as rows are loaded.
        with override_settings(BULK_TRIGGERS={**settings.BULK_TRIGGERS, **flags}):
            reset(model, self.using, n if operation.rows_before else 0)
            data = operation.prepare(model, self.using, n)
            with configs.active(self.triggers[config]):
                gc.collect()
                return how(lambda: run(model, self.using, data))

    def _statements(self, call: Callable[[], object]) -> list[dict[str, str]]:
        """Run ``call`` and return the statements it issued, as ``connection.queries`` has them.

        Like ``CaptureQueriesContext``, including BEGIN and COMMIT, but into an unbounded
        log: Django's keeps the last 9,000 only, which a large N would exceed silently.
        """
        connection = connections[self.using]
        connection.ensure_connection()
        saved = connection.queries_log, connection.force_debug_cursor
        connection.queries_log = deque()
        connection.force_debug_cursor = True
        try:
            call()
            return list(connection.queries_log)
        finally:
            connection.queries_log, connection.force_debug_cursor = saved


def _model(variant: str) -> type[Any]:
    return PlainItem if variant in ("django", "floor") else TriggerItem


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _peak_kib(call: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1024


_TRANSACTION = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def _kind(sql: str) -> str:
    """Return SELECT, INSERT, UPDATE, DELETE, transaction (BEGIN, SAVEPOINT…) or other."""
    word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    if word in _TRANSACTION:
        return "transaction"
    return word if word in {"SELECT", "INSERT", "UPDATE", "DELETE"} else "other"
