"""MkDocs hooks: the benchmark chart on the generated page, Sphinx roles in docstrings."""

from __future__ import annotations

import re
from typing import Any

CHART = (
    "\n![Ratios to plain Django and to the hand-written floor, by operation and N](benchmark.png)\n"
)
# Docstrings name objects with Sphinx roles (:meth:`check`), which Markdown leaves as text.
_ROLE = re.compile(r":(?:func|class|meth|attr|data|exc|mod):<code>~?")


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Put the chart under the title of benchmark.md, which benchmarks/ regenerates."""
    if page.file.src_uri != "benchmark.md" or "(benchmark.png)" in markdown:
        return markdown
    title, _, rest = markdown.partition("\n")
    return f"{title}\n{CHART}\n{rest}"


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """Render a docstring's Sphinx role as the code it wraps."""
    return _ROLE.sub("<code>", html)
