"""The ``TriggersPanel`` of django-debug-toolbar: every trigger call of the request, nested.

Add it to ``DEBUG_TOOLBAR_PANELS`` as
``"bulk_triggers.contrib.debug_toolbar.panel.TriggersPanel"``. It needs no entry in
``INSTALLED_APPS``: its template is rendered by an engine of its own.
"""

from __future__ import annotations

from contextvars import Token
from pathlib import Path
from typing import Any

from debug_toolbar.panels import Panel
from django.http import HttpRequest, HttpResponse
from django.template import Context, Engine

from bulk_triggers.contrib.debug_toolbar.recorder import CallRecorder, RecordedCall
from bulk_triggers.observers import Observer, observe, unobserve

__all__ = ["TriggersPanel"]

_ENGINE = Engine(dirs=[str(Path(__file__).resolve().parent / "templates")])
_TEMPLATE = "bulk_triggers/debug_toolbar/panel.html"


class TriggersPanel(Panel):
    """Show each trigger call of the request: stage, event, model, rows, time and queries.

    Calls dispatched by a trigger's own writes are shown under it, indented, in the
    order they ran. A call's time includes its nested calls; its queries are the ones it
    issued itself.
    """

    title = "Triggers"
    # Observers live in a context variable, which the async ORM's sync_to_async calls
    # inherit: an async view's trigger calls are seen too.
    is_async = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = CallRecorder()
        self._token: Token[tuple[Observer, ...]] | None = None

    @property
    def nav_subtitle(self) -> str:
        """Return the number of calls and their total time, such as ``"3 calls in 1.20 ms"``."""
        stats = self._stats()
        count = stats.get("count", 0)
        return f"{count} call{'' if count == 1 else 's'} in {stats.get('time', 0.0):.2f} ms"

    @property
    def content(self) -> str:
        """Return the panel's HTML, from the template shipped beside this module."""
        return _ENGINE.get_template(_TEMPLATE).render(Context(self._stats()))

    def _stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.get_stats()  # type: ignore[no-untyped-call]
        return stats

    def enable_instrumentation(self) -> None:
        """Start observing the trigger calls of this request."""
        if self._token is None:
            self._token = observe(self.recorder)

    def disable_instrumentation(self) -> None:
        """Stop observing; the calls recorded so far are kept for :meth:`generate_stats`."""
        if self._token is not None:
            unobserve(self._token)
            self._token = None

    def generate_stats(self, request: HttpRequest, response: HttpResponse) -> None:
        """Store the recorded calls as plain data, which the toolbar's store can serialize."""
        calls = [_as_row(call) for call in self.recorder.walk()]
        self.record_stats(  # type: ignore[no-untyped-call]
            {
                "calls": calls,
                "count": len(calls),
                "time": sum(call.duration or 0.0 for call in self.recorder.calls),
                "queries": sum(len(call["queries"]) for call in calls),
            }
        )


def _as_row(call: RecordedCall) -> dict[str, Any]:
    return {
        "label": call.label,
        "stage": call.stage,
        "event": call.event,
        "model": call.model,
        "rows": call.rows,
        "using": call.using,
        "depth": call.depth,
        "indent": 0.5 + call.depth * 1.5,
        "duration": call.duration or 0.0,
        "error": call.error,
        "queries": [
            {"using": query.using, "sql": query.sql, "duration": query.duration}
            for query in call.queries
        ],
    }
