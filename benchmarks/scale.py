"""``--scale N``: peak Python memory of chunked ``update()``/``delete()`` at 100,000 and N rows.

On SQLite, with the before+after triggers and ``CHUNK_SIZE`` 2,000, ``TriggerItem``'s
table is filled with ``executemany`` (fast, no model instances), then
``update(amount=F("amount") + 1)`` and ``delete()`` run under tracemalloc. Statements are
counted with an execute wrapper, which keeps no query text, so that counting does not
itself grow with N. Peak memory must not grow with N: it is bounded by the chunk.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connections
from django.db.models import F
from django.test.utils import override_settings

from benchmarks import configs
from benchmarks.app.models import TriggerItem
from benchmarks.databases import create_tables, seed_raw

USING = "default"
CHUNK_SIZE = 2_000


def main(options: argparse.Namespace, command: str) -> int:
    """Run the scale check, print it, add it to the JSON file and render that as Markdown.

    The JSON file keeps the results of an earlier measuring run, so that one page shows both.
    """
    from benchmarks.run import machine

    sizes = sorted({options.scale_base, options.scale})
    result = {
        "chunk_size": CHUNK_SIZE,
        "command": command,
        "runs": check(sizes, log=lambda text: print(text, file=sys.stderr, flush=True)),
    }
    print("\n".join(describe(result)))
    path = Path(options.json)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("meta", machine(command, ["sqlite"], sizes, 1))
    data["scale"] = result
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"Wrote the scale check into {path}", file=sys.stderr)
    if options.markdown:
        from benchmarks.markdown import render

        Path(options.markdown).write_text(render(data))
        print(f"Wrote {options.markdown}", file=sys.stderr)
    return 0


def check(sizes: list[int], log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Return, per size and operation, the peak traced memory, statements and times.

    Each operation runs twice from the same rows: once timed, once under tracemalloc
    (which slows Python several times over, so its time is reported apart).
    """
    triggers = configs.define_configs()["pair"]
    create_tables(USING)
    operations: list[tuple[str, Callable[[], object]]] = [
        ("update_f", lambda: TriggerItem.objects.using(USING).update(amount=F("amount") + 1)),
        ("delete", lambda: TriggerItem.objects.using(USING).all().delete()),
    ]
    runs = []
    for n in sizes:
        for name, operation in operations:
            run: dict[str, Any] = {"operation": name, "n": n}
            for traced in (False, True):
                log(f"… scale: inserting {n:,} rows")
                seed_raw(TriggerItem, USING, n)
                log(f"… scale: {name} over {n:,} rows{' under tracemalloc' if traced else ''}")
                with override_settings(BULK_TRIGGERS={"CHUNK_SIZE": CHUNK_SIZE}):
                    run.update(_run(operation, triggers, traced))
            runs.append(run)
        left = TriggerItem.objects.using(USING).count()
        assert left == 0, f"{left} rows left after delete()"
    return runs


def _run(operation: Callable[[], object], triggers: Any, traced: bool) -> dict[str, Any]:
    counter = _Counter()
    with configs.active(triggers), connections[USING].execute_wrapper(counter):
        gc.collect()
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        try:
            operation()
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if traced else 0
        finally:
            if traced:
                tracemalloc.stop()
    if not traced:
        return {"seconds": elapsed}
    return {"peak_kib": peak / 1024, "statements": counter.count, "seconds_traced": elapsed}


class _Counter:
    """An execute wrapper that counts statements and keeps nothing else."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def describe(result: dict[str, Any]) -> list[str]:
    """Render the scale check as text lines, with the growth of the peak between sizes."""
    lines = [f"Scale check (SQLite, before+after triggers, CHUNK_SIZE {result['chunk_size']:,}):"]
    runs = result["runs"]
    for name in dict.fromkeys(r["operation"] for r in runs):
        mine = sorted((r for r in runs if r["operation"] == name), key=lambda r: r["n"])
        for r in mine:
            lines.append(
                f"  {name:<9} N = {r['n']:>9,}: peak {r['peak_kib']:>9,.0f} KiB, "
                f"{r['statements']:,} statements, {r['seconds']:.1f} s "
                f"({r['seconds_traced']:.1f} s under tracemalloc)"
            )
        if len(mine) > 1:
            growth = mine[-1]["peak_kib"] / mine[0]["peak_kib"]
            lines.append(
                f"  {name:<9} peak at {mine[-1]['n']:,} / at {mine[0]['n']:,} rows: {growth:.2f}x"
            )
    return lines
