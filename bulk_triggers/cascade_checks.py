"""The system check for relations whose deletes the database handles, out of the ORM's sight."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core import checks
from django.db import models
from django.db.models.deletion import DO_NOTHING

from bulk_triggers.registry import registry


def check_database_deletes(selected: set[str] | None) -> Iterator[checks.CheckMessage]:
    """Warn about each ``DO_NOTHING``/``DB_*`` key on a model with delete or update triggers.

    Deleting the referenced row then leaves the referencing rows to the database (a
    constraint, ``ON DELETE CASCADE``, ``SET NULL`` or ``SET DEFAULT``), which changes or
    deletes them without the ORM, so their triggers do not fire.
    """
    for model in registry.models():
        if model._meta.abstract or (selected is not None and model._meta.app_label not in selected):
            continue
        names = sorted(
            {
                trigger.label
                for event in ("delete", "update")
                for trigger in registry.for_model(model, event)
            }
        )
        if not names:
            continue
        for field in model._meta.concrete_fields:
            on_delete = getattr(field.remote_field, "on_delete", None)
            if on_delete is DO_NOTHING or hasattr(on_delete, "on_delete_sql"):
                yield _warning(model, field, on_delete, names)


def _warning(
    model: type[models.Model], field: Any, on_delete: Any, names: list[str]
) -> checks.CheckMessage:
    kind = getattr(on_delete, "__name__", repr(on_delete))
    target = field.remote_field.model._meta.label
    return checks.Warning(
        f"{model._meta.label}.{field.name} uses on_delete={kind}: deleting a {target} "
        f"leaves {model._meta.label} rows to the database, which changes or deletes them "
        f"without firing {', '.join(names)}.",
        hint=(
            "Use CASCADE, SET_NULL, SET_DEFAULT or SET(...) so that Django's deletion "
            "collector (and the triggers) handle these rows, or silence "
            "bulk_triggers.W007 if the database is meant to."
        ),
        obj=field,
        id="bulk_triggers.W007",
    )
