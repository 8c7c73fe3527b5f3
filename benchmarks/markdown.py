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
            f"Medians of {meta.get('repeat', '?')} runs per variant, alternating (three times as "
            "many for a variant under 50 ms)"
            f"{_large(meta)}; "
            f"`CHUNK_SIZE` {meta.get('chunk_size', '?')}; load average "
            f"{meta.get('load_average_start')} at the start, "
            f"{meta.get('load_average_end')} at the end.",
            "",
        ]
    lines += _limits(data)
    lines += [
        "Variants: *plain Django* (a model with a plain manager), *bulk_triggers* on the same "
        "model shape with no trigger (for `bulk_update()` also with `FAST_BULK_UPDATE`), with "
        "a before and an after trigger (`HasChanged` on the watched field; for `delete()` a "
        "condition on the deleted row's values), with the after trigger only (`update()`, "
        "`delete()`), and with ten triggers (five before, five after, with conditions); "
        "trigger bodies are empty. Peers, side by side on the same model shape with the "
        "before+after hooks' equivalent (empty bodies, the same watched field): "
        "*django-lifecycle* for the `save()` loop of loaded rows, *django-bulk-hooks* for "
        "`delete()`. The *hand-written floor* is the cheapest public-ORM code "
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
            status = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
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


def _large(meta: dict[str, Any]) -> str:
    large = [n for n in meta.get("sizes", []) if n > meta.get("large_n", n)]
    if not large or "repeat_large" not in meta:
        return ""
    at = ", ".join(f"{n:,}" for n in large)
    return f" ({meta['repeat_large']} at N = {at})"


def _limits(data: dict[str, Any]) -> list[str]:
    """Return the rows limited to keep the run short, and the variants skipped, with why."""
    limits = data.get("meta", {}).get("limits") or []
    lines = []
    if limits:
        lines += ["Limited to keep the run short:", ""]
        lines += [f"- {limit}" for limit in limits]
        lines.append("")
    skipped = data.get("skipped") or []
    if skipped:
        lines += ["Skipped, because the peer does not work there:", ""]
        lines += [f"- {line}" for line in report.skipped_lines(skipped)]
        lines.append("")
    return lines
