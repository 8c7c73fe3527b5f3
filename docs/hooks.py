"""MkDocs hooks: show the benchmark chart on the generated benchmark page."""

from __future__ import annotations

from typing import Any

CHART = (
    "\n![Ratios to plain Django and to the hand-written floor, by operation and N](benchmark.png)\n"
)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Put the chart under the title of benchmark.md, which benchmarks/ regenerates."""
    if page.file.src_uri != "benchmark.md" or "(benchmark.png)" in markdown:
        return markdown
    title, _, rest = markdown.partition("\n")
    return f"{title}\n{CHART}\n{rest}"
