"""Addresses of the documentation pages that explain errors and checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.core import checks

#: Where the documentation of this release lives; pages are ``<page>/`` below it.
DOCS_URL = "https://bulk-triggers.readthedocs.io/en/latest/"


def docs_url(page: str, anchor: str = "") -> str:
    """Return the address of a documentation page, or of a heading on it.

    Args:
        page: The page's path without ``.md`` (``"checks"``, ``"testing"``).
        anchor: The id of a heading on that page, if any.
    """
    return f"{DOCS_URL}{page}/" + (f"#{anchor}" if anchor else "")


def check_url(check_id: str) -> str:
    """Return the address of a check's entry on the checks page (``bulk_triggers.E001``)."""
    return docs_url("checks", check_id)


def with_links(messages: Iterable[checks.CheckMessage]) -> list[checks.CheckMessage]:
    """End each message's hint with the address of its entry on the checks page."""
    linked = list(messages)
    for message in linked:
        if message.id:
            see = f"See {check_url(message.id)}"
            message.hint = f"{message.hint} {see}" if message.hint else see
    return linked
