"""``--markdown``: the results as a Markdown page (docs/benchmark.md)."""

from __future__ import annotations

from typing import Any

from benchmarks import report


def render(data: dict[str, Any]) -> str:
    """Return the Markdown page of a run: machine, command, targets, tables, scale check."""
    meta = data.get("meta", {})
    lines = ["# Benchmark: bulk_triggers against plain Django", ""]
    if meta:
        databases = ", ".join(meta.get("databases", {}).values())
        lines += [
            f"Run on {meta.get('date', '?')} at revision {meta.get('revision', '?')} "
            f"with `{meta.get('command', '?')}`: "
            f"{meta.get('cpu', '?')} ({meta.get('cpu_count', '?')} CPUs), "
            f"{meta.get('platform', '?')}, "
            f"Python {meta.get('python', '?')}, Django {meta.get('django', '?')}, {databases}. "
            f"Medians of {meta.get('repeat', '?')} runs per variant, alternating; "
            f"`CHUNK_SIZE` {meta.get('chunk_size', '?')}; load average "
            f"{meta.get('load_average_start')} at the start, "
            f"{meta.get('load_average_end')} at the end.",
            "",
        ]
    lines += [
        "Variants: *plain Django* (a model with a plain manager), *bulk_triggers* on the same "
        "model shape with no trigger, with a before and an after trigger (`HasChanged` on the "
        "watched field), and with ten triggers (five before, five after, with conditions); "
        "trigger bodies are empty. The *hand-written floor* is the cheapest public-ORM code "
        "that gives triggers what the contract promises, in `atomic`: the old rows (and, for "
        "`update()`, the new ones); for the `save()` loops, per row a transaction (and the "
        "stored row, locked). `bulk_update()` gets `batch_size=1000` in every variant: "
        "unbatched, Django's single UPDATE is quadratic on PostgreSQL. Statements: S/I/U/D = "
        "SELECT, INSERT, UPDATE, DELETE; tx = BEGIN, COMMIT, SAVEPOINT, RELEASE. Peak KiB: "
        "tracemalloc, in a separate run.",
        "",
        "![Median time relative to plain Django and to the floor](benchmark.png)",
        "",
    ]
    if data.get("targets"):
        lines += [
            "## Targets",
            "",
            "| database | target | status | measured |",
            "|---|---|---|---|",
        ]
        for t in data["targets"]:
            status = {True: "met", False: "**missed**", None: "not measured"}[t["met"]]
            lines.append(f"| {t['db']} | {t['target']} | {status} | {t['detail']} |")
        lines.append("")
    if data.get("results"):
        lines += ["## Results", "", *report.table_lines(data["results"], markdown=True)]
    if data.get("scale"):
        from benchmarks.scale import describe

        command = data["scale"].get("command", "python -m benchmarks --scale N")
        lines += ["## Scale check", "", f"`{command}`:", "", "```", *describe(data["scale"])]
        lines += ["```", ""]
    return "\n".join(lines)
