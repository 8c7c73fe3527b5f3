"""The chart: ratios to plain Django (and to the hand-written floor) by operation and N."""

from __future__ import annotations

from typing import Any

from benchmarks import targets
from benchmarks.report import label
from benchmarks.variants import VARIANT_LABELS

# (operation, baseline key, target) per panel; the target line is drawn where there is one.
# A panel whose operation the run did not measure is left out.
PANELS: tuple[tuple[str, str, float | None], ...] = (
    ("bulk_create", "ratio_plain", targets.REGRESSION["bulk_create"]),
    ("bulk_update", "ratio_plain", targets.BULK_UPDATE),
    ("update_value", "ratio_plain", None),
    ("update_f", "ratio_plain", None),
    ("delete", "ratio_plain", None),
    (targets.PUSHDOWN_OPERATION, "ratio_plain", targets.PUSHDOWN),
    ("save_update", "ratio_plain", None),
    ("save_create", "ratio_plain", targets.REGRESSION["save_create"]),
    ("update_value", "ratio_floor", targets.UPDATE_BEFORE),
    ("update_f", "ratio_floor", targets.UPDATE_BEFORE),
    ("delete", "ratio_floor", targets.DELETE_AFTER),
    ("save_update", "ratio_floor", None),
    ("save_create", "ratio_floor", None),
)
COLORS = {
    "none": "tab:blue",
    "fast": "tab:green",
    "pair": "tab:orange",
    "after": "tab:olive",
    "ten": "tab:red",
    "floor": "tab:gray",
    "lifecycle": "tab:purple",
    "bulk_hooks": "tab:brown",
    "pushdown": "tab:cyan",
}
STYLES = {"sqlite": "-", "postgresql": "--", "mysql": "-."}
MARKERS = {"sqlite": "o", "postgresql": "s", "mysql": "D"}
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}


def draw(rows: list[dict[str, Any]], meta: dict[str, Any], path: str) -> None:
    """Draw one panel per (operation, baseline) and save the figure as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in PANELS if any(r["operation"] == p[0] for r in rows)]
    columns = 4
    lines = -(-(len(panels) + 1) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.4 * lines))
    flat = list(axes.flat)
    handles: dict[str, Any] = {}
    names = {db: version.rsplit(" ", 1)[0] for db, version in meta.get("databases", {}).items()}
    for ax, (operation, key, target) in zip(flat, panels, strict=False):
        _panel(ax, rows, operation, key, target, handles, names)
    legend_ax = flat[len(panels)]
    legend_ax.axis("off")
    # Variants first, then the databases' line styles, then the target line.
    order = sorted(handles, key=lambda key: (key.startswith("~"), key == "target"))
    keys = [handles[key].get_label() if key.startswith("~") else key for key in order]
    legend_ax.legend([handles[key] for key in order], keys, loc="center", fontsize=9, frameon=False)
    for ax in flat[len(panels) + 1 :]:
        ax.axis("off")
    title = "bulk_triggers: median time relative to plain Django / the hand-written floor"
    if meta:
        title += (
            f"\n{meta.get('cpu', '')}, Python {meta.get('python')}, Django {meta.get('django')}, "
            f"{', '.join(meta.get('databases', {}).values())}, {meta.get('date', '')[:10]}"
        )
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _panel(
    ax: Any,
    rows: list[dict[str, Any]],
    operation: str,
    key: str,
    target: float | None,
    handles: dict[str, Any],
    names: dict[str, str],
) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullLocator

    base = "plain Django" if key == "ratio_plain" else "hand-written floor"
    # Against the floor, "no trigger" is no comparison: it never loads a row.
    skip = ("django",) if key == "ratio_plain" else ("floor", "none", "fast")
    highest = 1.0
    sizes: set[int] = set()
    for db in dict.fromkeys(r["db"] for r in rows):
        for variant in COLORS:
            if variant in skip:
                continue
            points = sorted(
                (r["n"], r[key])
                for r in rows
                if r["db"] == db
                and r["operation"] == operation
                and r["variant"] == variant
                and r.get(key) is not None
            )
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            highest = max(highest, *ys)
            sizes.update(xs)
            ax.plot(xs, ys, STYLES.get(db, ":"), marker=MARKERS.get(db, "^"), color=COLORS[variant])
            # The legend keys colours to variants and line styles to databases.
            handles.setdefault(
                VARIANT_LABELS.get(variant, variant), Line2D([], [], color=COLORS[variant])
            )
            handles.setdefault(
                f"~{db}",
                Line2D(
                    [],
                    [],
                    color="black",
                    linestyle=STYLES.get(db, ":"),
                    marker=MARKERS.get(db, "^"),
                    label=names.get(db) or NAMES.get(db, db),
                ),
            )
    ax.axhline(1.0, color="black", linewidth=0.8)
    if target is not None:
        line = ax.axhline(target, color="green", linestyle=":", linewidth=1.2)
        handles.setdefault("target", line)
    ax.set_xscale("log")
    if sizes:
        ticks = sorted(sizes)
        ax.set_xticks(ticks, [f"{n:,}" for n in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlim(ticks[0] / 1.6, ticks[-1] * 1.6)
    if highest > 5:
        ax.set_yscale("log")
    ax.set_title(f"{label(operation)}\nx {base}", fontsize=9)
    ax.set_xlabel("N rows", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(True, which="both", alpha=0.3)
