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
from benchmarks.databases import reset
from benchmarks.operations import Operation
from benchmarks.variants import Variant, variants_of
from bulk_triggers.trigger import TriggerMeta

FAST = 0.05
"""Seconds: a variant whose median is shorter gets ``FAST_FACTOR`` times the rounds, since
a few milliseconds are easily disturbed by anything else on the machine."""
FAST_FACTOR = 3


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


@dataclass
class Skipped:
    """A variant that could not run on a database (a peer library that does not work there)."""

    db: str
    operation: str
    n: int
    variant: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        self,
        operation: Operation,
        n: int,
        repeat: int,
        memory: bool = True,
        wanted: tuple[str, ...] | None = None,
    ) -> tuple[list[Measurement], list[Skipped]]:
        """Measure the variants of ``operation`` at ``n`` rows; return them and the skipped.

        The first run of each variant counts statements, checks the result and warms
        caches; then ``repeat`` timed rounds run the variants in a rotating order (three
        times as many for the variants that take under 50 ms); then, with ``memory``, one
        tracemalloc run per variant. A peer's variant whose model is missing, or that
        fails on this database, is skipped with the reason.
        """
        variants: list[Variant] = []
        skipped: list[Skipped] = []
        results: dict[str, Measurement] = {}
        for variant in variants_of(operation, n, wanted):
            try:
                queries = self._once(operation, variant, n, self._statements)
                operation.verify(variant.model_class(), self.using, n)
            except Exception as exc:
                if variant.peer is None:
                    raise
                # LookupError is the model's own message; anything else is the peer failing.
                text = str(exc) if isinstance(exc, LookupError) else f"{type(exc).__name__}: {exc}"
                reason = (text.splitlines() or [type(exc).__name__])[0][:400]
                skipped.append(Skipped(self.db, operation.name, n, variant.name, reason))
                continue
            kinds = Counter(_kind(query["sql"]) for query in queries)
            measurement = Measurement(self.db, operation.name, n, variant.name)
            measurement.statements = len(queries)
            measurement.statement_kinds = dict(sorted(kinds.items()))
            results[variant.name] = measurement
            variants.append(variant)
        self._rounds(operation, variants, n, repeat, results)
        short = [v for v in variants if results[v.name].median < FAST]
        # Short runs are the noisiest: they get more rounds (the others need none).
        self._rounds(operation, short, n, repeat * (FAST_FACTOR - 1), results)
        if memory:
            for variant in variants:
                results[variant.name].peak_kib = self._once(operation, variant, n, _peak_kib)
        return [results[v.name] for v in variants], skipped

    def _rounds(
        self,
        operation: Operation,
        variants: list[Variant],
        n: int,
        rounds: int,
        results: dict[str, Measurement],
    ) -> None:
        """Time ``rounds`` runs of each variant, in an order that rotates every round."""
        for round_ in range(rounds if variants else 0):
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                results[variant.name].times.append(self._once(operation, variant, n, _timed))

    def _once(self, operation: Operation, variant: Variant, n: int, how: Callable[..., Any]) -> Any:
        model = variant.model_class()
        reset(model, self.using, n if operation.rows_before else 0)
        data = operation.prepare(model, self.using, n)
        run = operation.floor if variant.floor else operation.run
        assert run is not None
        overrides = {"FAST_BULK_UPDATE": False, **variant.settings}
        with (
            configs.active(self.triggers[variant.config]),
            override_settings(BULK_TRIGGERS={**settings.BULK_TRIGGERS, **overrides}),
        ):
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
