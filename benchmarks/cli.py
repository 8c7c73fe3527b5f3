"""The command line: parse options, set up Django with the benchmark's settings, run.

Examples::

    python -m benchmarks                      # N = 1,000, 10,000, 100,000; SQLite, PostgreSQL
                                              # and MariaDB; writes bench-results/benchmark.*
    python -m benchmarks --quick              # N = 1,000, three repetitions
    python -m benchmarks --operations delete --variants pair,bulk_hooks   # one comparison
    python -m benchmarks --sizes 1000,10000 --databases sqlite --output-dir /tmp/bench
    python -m benchmarks --profile            # where the time goes, before+after triggers
    python -m benchmarks --scale 1000000      # peak memory at 100,000 and 1,000,000 rows
    python -m benchmarks --from-json bench-results/benchmark.json --chart docs/benchmark.png
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_SIZES = (1_000, 10_000, 100_000)
VENDORS = ("sqlite", "postgresql", "mysql")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes integers separated by commas, got {text!r}"
        ) from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("--sizes takes positive integers")
    return sizes


def _databases(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = set(names) - set(VENDORS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"--databases takes a comma-separated subset of {', '.join(VENDORS)}"
        )
    return names


def parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m benchmarks``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time bulk_triggers against plain Django and the hand-written floor.",
        epilog=__doc__.split("\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sizes", type=_sizes, help="row counts N (default 1000,10000,100000)")
    p.add_argument("--repeat", type=int, help="timed runs per variant (default 5; --quick: 3)")
    p.add_argument(
        "--databases",
        type=_databases,
        help="sqlite,postgresql,mysql (default: all three; a server that does not answer is "
        "skipped unless named here)",
    )
    p.add_argument(
        "--operations", help="comma-separated operation names (default: all)", default=""
    )
    p.add_argument(
        "--variants",
        default="",
        help="comma-separated variant names to run where an operation has them (default: each "
        "operation's own set; plain Django always runs, as the baseline): "
        "django,none,fast,pair,after,ten,floor,lifecycle,bulk_hooks",
    )
    p.add_argument(
        "--repeat-large",
        type=int,
        default=1,
        metavar="N",
        help="timed runs per variant at N above 10,000, which also get no tracemalloc run "
        "(default 1)",
    )
    p.add_argument("--quick", action="store_true", help="N = 1,000 and three repetitions")
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    p.add_argument(
        "--output-dir",
        default="bench-results",
        metavar="DIR",
        help="where a measuring run writes benchmark.json, benchmark.md and benchmark.png "
        "unless --json, --markdown or --chart say otherwise (default: bench-results)",
    )
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--chart", metavar="PATH", help="draw the ratios as a PNG (needs matplotlib)")
    p.add_argument("--markdown", metavar="PATH", help="write the tables and targets as Markdown")
    p.add_argument(
        "--from-json",
        metavar="PATH",
        help="measure nothing: print, chart and write Markdown from an earlier --json file",
    )
    p.add_argument(
        "--profile",
        nargs="?",
        const="-",
        metavar="PATH",
        help="profile each operation with before+after triggers on SQLite (N from --sizes, "
        "default 10,000) and write the report to PATH (default: print it)",
    )
    p.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help="measure only the scale check: peak memory of update/delete at 100,000 and N rows "
        "on SQLite; added under 'scale' to the --json file (default: DIR/benchmark.json), "
        "keeping its other results",
    )
    p.add_argument(
        "--scale-base",
        type=int,
        default=100_000,
        metavar="N",
        help="the smaller row count of --scale (default 100,000)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark as the options say; return the exit status."""
    options = parser().parse_args(argv)
    if options.repeat is not None and options.repeat < 1:
        parser().error("--repeat must be at least 1")
    if options.repeat_large < 1:
        parser().error("--repeat-large must be at least 1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    import django

    django.setup()
    from benchmarks import run

    return run.main(options, " ".join(["python -m benchmarks", *(argv or sys.argv[1:])]))
