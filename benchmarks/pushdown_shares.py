"""Where condition pushdown stops paying: split against not split, by share of passing rows.

``python -m benchmarks.pushdown_shares`` times ``update(amount=7)`` under a before and an
after ``HasChanged("amount")`` trigger, ``update(status="done")`` under
``HasChanged("status")``, and ``delete()`` under ``~IsEqual("status", "archived")`` with an
after trigger only and with a before and an after trigger, at several shares of passing
rows, three ways: forced split, forced no split, and ``PUSHDOWN`` off. It prints the best
of ``--repeat`` runs of each as CPU time of this process plus the database server's
(PostgreSQL's backend, every MariaDB thread; wall time with ``--wall``), which other load
on a shared machine disturbs less than wall time, and the ratios to ``PUSHDOWN`` off.
``bulk_triggers.pushdown_write``'s ``*_SPLIT_SHARE`` constants come from its output.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

OPERATIONS = {
    # name: (event, stages, watched condition, what makes a row not pass)
    "update_amount": ("update", ("before", "after"), "amount", {"amount": 7}),
    "update_status": ("update", ("before", "after"), "status", {"status": "done"}),
    "delete_after": ("delete", ("after",), "status", {"status": "archived"}),
    "delete_pair": ("delete", ("before", "after"), "status", {"status": "archived"}),
}
WAYS = ("off", "split", "unsplit")


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pushdown_shares", description=__doc__)
    p.add_argument("--databases", default="sqlite,postgresql,mysql")
    p.add_argument("--operations", default=",".join(OPERATIONS))
    p.add_argument("--shares", default="1,25,40,50,60,75,90,100", help="percent passing")
    p.add_argument("--n", type=int, default=10_000, help="rows (default 10,000)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--wall", action="store_true", help="wall time instead of CPU time")
    return p.parse_args()


def _server_ns(connection: Any) -> int:
    """Return the CPU time the server has spent for ``connection`` (0 where unknown)."""
    try:
        if connection.vendor == "postgresql":
            pid = connection.connection.info.backend_pid
            with open(f"/proc/{pid}/schedstat") as stat:
                return int(stat.read().split()[0])
        if connection.vendor == "mysql":
            found = subprocess.run(["pgrep", "-o", "mariadbd|mysqld"], capture_output=True)
            pid = found.stdout.decode().strip()
            total = 0
            for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
                with open(path) as stat:
                    total += int(stat.read().split()[0])
            return total
    except (OSError, ValueError):
        return 0
    return 0


def _clock(connection: Any, wall: bool) -> Callable[[], int]:
    if wall:
        return time.perf_counter_ns
    return lambda: time.process_time_ns() + _server_ns(connection)


@contextmanager
def _forced(way: str) -> Iterator[dict[str, Any]]:
    """Force the route: every share dict to 10 (always split) or 0 (never); or PUSHDOWN off."""
    from bulk_triggers import pushdown_write

    tables = [
        pushdown_write.UPDATE_SPLIT_SHARE,
        pushdown_write.DELETE_SPLIT_SHARE,
        pushdown_write.DELETE_BEFORE_SPLIT_SHARE,
    ]
    saved = [dict(table) for table in tables]
    share = {"split": 10.0, "unsplit": 0.0, "off": 0.5}[way]
    for table in tables:
        table.update(dict.fromkeys(table, share))
    try:
        yield {"PUSHDOWN": False} if way == "off" else {}
    finally:
        for table, values in zip(tables, saved, strict=True):
            table.clear()
            table.update(values)


def _define(model: Any, event: str, stages: tuple[str, ...], condition: Any) -> None:
    from bulk_triggers import Trigger

    def noop(self: Any, *args: Any) -> None:
        return None

    body = {"__module__": __name__, "condition": condition}
    body.update({f"on_{stage}_{event}": noop for stage in stages})
    types.new_class(
        f"Share_{event}_{'_'.join(stages)}", (Trigger[model],), exec_body=lambda ns: ns.update(body)
    )


def _once(way: str, rows: Any, event: str, values: dict[str, Any], clock: Any) -> tuple[float, int]:
    """Run the operation once the ``way`` given; return its time in ms and its statements."""
    from django.conf import settings
    from django.db import connections
    from django.test.utils import CaptureQueriesContext, override_settings

    connection = connections[rows.db]
    with (
        _forced(way) as extra,
        override_settings(BULK_TRIGGERS={**settings.BULK_TRIGGERS, **extra}),
    ):
        connection.ensure_connection()
        with CaptureQueriesContext(connection) as queries:
            start = clock()
            if event == "update":
                rows.update(**values)
            else:
                rows.delete()
            spent = (clock() - start) / 1e6
    return spent, len(queries.captured_queries)


def main() -> None:
    args = _arguments()
    import django

    django.setup()
    from django.db import connections, models
    from django.db.models import F
    from django.db.models.functions import Mod

    from benchmarks.app.models import TriggerItem
    from benchmarks.databases import ALIASES, create_tables, fill_template, reset, unreachable
    from bulk_triggers import HasChanged, IsEqual
    from bulk_triggers.registry import registry

    shares = [int(s) for s in args.shares.split(",")]
    for db in args.databases.split(","):
        if why := unreachable(db):
            print(f"{db}: skipped, {why}")
            continue
        using = ALIASES[db]
        create_tables(using)
        fill_template(using, args.n)
        clock = _clock(connections[using], args.wall)
        plain = models.QuerySet(model=TriggerItem, using=using)
        for name in args.operations.split(","):
            event, stages, field, failing = OPERATIONS[name]
            condition = HasChanged(field) if event == "update" else ~IsEqual(field, "archived")
            with registry.isolated():
                for trigger in list(registry):
                    registry.unregister(trigger)
                _define(TriggerItem, event, stages, condition)
                for share in shares:
                    best: dict[str, float] = {}
                    statements: dict[str, int] = {}
                    for run in range(args.repeat):
                        for way in WAYS[run % 3 :] + WAYS[: run % 3]:  # Rotate the order.
                            reset(TriggerItem, using, args.n)
                            # Django's own UPDATE: the rows that must not pass, untriggered.
                            plain.alias(r=Mod(F("pk") - 1, 100)).filter(r__gte=share).update(
                                **failing
                            )
                            rows = TriggerItem.objects.using(using)
                            spent, statements[way] = _once(way, rows, event, failing, clock)
                            best[way] = min(best.get(way, spent), spent)
                    times = "  ".join(
                        f"{way} {best[way]:7.1f} ms ({statements[way]} st)" for way in WAYS
                    )
                    ratios = "  ".join(
                        f"{way}/off {best[way] / best['off']:.2f}" for way in WAYS[1:]
                    )
                    print(f"{db:10} {name:14} {share:3}% pass  {times}  {ratios}", flush=True)


if __name__ == "__main__":
    main()
