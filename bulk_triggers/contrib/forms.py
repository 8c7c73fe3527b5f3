"""Show triggers' refusals on Django forms instead of as server errors.

A trigger refuses rows while the form's instance is saved, after ``is_valid()`` has
passed, so Django's views would turn its ``ValidationError`` into a 500. These helpers
save inside a savepoint and, when a trigger refuses, put the messages on the form: on
the named field where the form has it, else among the non-field errors.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import router, transaction
from django.http import HttpResponse

__all__ = ["TriggerErrorsFormMixin", "TriggerErrorsViewMixin", "add_to_form", "describe"]


def add_to_form(form: forms.BaseForm, error: ValidationError, *, fields: bool = True) -> None:
    """Add ``error``'s messages to ``form``: per field where it has the field, else non-field.

    With ``fields=False`` every message becomes a non-field error, prefixed by its field
    (for a refusal of another model's row, such as an inline's).
    """
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        if fields and name in form.fields:
            form.add_error(name, errors)
        elif name == NON_FIELD_ERRORS:
            form.add_error(None, errors)
        else:
            form.add_error(None, [f"{name}: {message}" for e in errors for message in e.messages])


def describe(error: ValidationError) -> str:
    """Return the messages of ``error`` as one line, each prefixed by its field if named."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return " ".join(
        message if name == NON_FIELD_ERRORS else f"{name}: {message}"
        for name, messages in error.message_dict.items()
        for message in messages
    )


class TriggerErrorsFormMixin:
    """A ``ModelForm`` mixin whose ``save()`` puts trigger refusals on the form.

    ``save()`` (with ``commit=True``) writes in a savepoint; when a trigger refuses, the
    savepoint is rolled back, the messages are added to the form (``form.errors``,
    ``is_valid()`` is then false) and the ``ValidationError`` is raised again for the
    view to render the form. ``save(commit=False)`` writes nothing and is unchanged.
    """

    def save(self, commit: bool = True) -> Any:
        if not commit:
            return super().save(commit=False)  # type: ignore[misc]
        form: Any = self
        using = router.db_for_write(form._meta.model, instance=form.instance)
        try:
            with transaction.atomic(using=using):
                return super().save(commit=True)  # type: ignore[misc]
        except ValidationError as error:
            add_to_form(form, error)
            form._bulk_triggers_refusal = error  # Shown already: the view must not repeat it.
            raise


class TriggerErrorsViewMixin:
    """A mixin for ``CreateView``/``UpdateView`` that renders trigger refusals on the form.

    ``form_valid()`` saves in a savepoint; a ``ValidationError`` from a trigger rolls it
    back and the view answers ``form_invalid()``: the form, its errors, status 200.
    """

    def form_valid(self, form: Any) -> HttpResponse:
        using = router.db_for_write(form._meta.model, instance=form.instance)
        try:
            with transaction.atomic(using=using):
                response: HttpResponse = super().form_valid(form)  # type: ignore[misc]
                return response
        except ValidationError as error:
            if getattr(form, "_bulk_triggers_refusal", None) is not error:
                add_to_form(form, error)
            invalid: HttpResponse = self.form_invalid(form)  # type: ignore[attr-defined]
            return invalid
