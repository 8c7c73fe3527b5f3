"""update() with triggers stores, or refuses, what Django's own update() does, when an
expression's type is not its column's (``update(amount=Upper("label"))``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Upper

from bulk_triggers import Trigger, bypass
from tests.upwriteapp.models import UwPlain


class _Undo(Exception):
    """Rolls an update back once its outcome is read, so that both runs start alike."""


def _outcome(using: str, run: Callable[[], int]) -> tuple[Any, ...]:
    """What an update did: its count and the stored rows, or the class of what it raised."""
    try:
        with transaction.atomic(using=using):
            count = run()
            stored = sorted(UwPlain.objects.values_list("label", "amount"))
            raise _Undo
    except _Undo:
        return ("stored", count, stored)
    except Exception as exc:
        return ("raised", type(exc))


@pytest.mark.parametrize(
    ("labels", "value"),
    [
        pytest.param(["12", "7"], lambda: Upper("label"), id="numeric-text"),
        pytest.param(["abc", "12"], lambda: Upper("label"), id="text"),
        pytest.param(["3"], lambda: Concat(F("label"), Value("4")), id="concat"),
        pytest.param(["3"], lambda: F("amount") + 1, id="numeric"),
    ],
)
def test_typed_apart_expression_as_django(using: str, labels: list[str], value: Any) -> None:
    """Stored values, count or exception class: the triggered update() matches Django's."""
    UwPlain.objects.bulk_create([UwPlain(label=label, amount=0) for label in labels])

    class Seen(Trigger[UwPlain]):
        def on_before_update(self, new: list[UwPlain], old: list[UwPlain]) -> None:
            pass

    with bypass():
        django = _outcome(using, lambda: UwPlain.objects.update(amount=value()))
    ours = _outcome(using, lambda: UwPlain.objects.update(amount=value()))
    assert ours == django
