"""A ``ModelAdmin`` mixin that shows triggers' refusals instead of a server error.

Django's admin saves after the form validated, so a trigger's ``ValidationError``
(``raise`` or ``add_error()``) would escape the view as a 500. With the mixin:

- the change and add forms and ``list_editable`` rows are shown again, status 200, with
  the messages on the named fields (else as non-field errors) and nothing written;
- the delete view and actions ("delete selected" included) roll back and redirect with
  an error message.

The refusal is kept on the request (never on the shared ``ModelAdmin``); the view then
runs once more, with forms that carry the messages and so do not validate.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from bulk_triggers.contrib.forms import add_to_form, describe

__all__ = ["TriggerErrorsAdminMixin"]

_REFUSALS = "_bulk_triggers_refusals"


class _Refused(Exception):
    """Unwinds the admin view (and its transaction) after a trigger refused a save."""

    def __init__(self, key: Any, error: ValidationError, fields: bool = True) -> None:
        super().__init__(key, error)
        self.key, self.error, self.fields = key, error, fields


class TriggerErrorsAdminMixin:
    """Mix into a ``ModelAdmin`` (before it) to show trigger refusals on its pages."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            super().save_model(request, obj, form, change)  # type: ignore[misc]
        except ValidationError as error:
            raise _Refused(obj.pk if change else None, error) from error

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        try:
            super().save_related(request, form, formsets, change)  # type: ignore[misc]
        except ValidationError as error:  # Another model's rows: shown as non-field errors.
            raise _Refused(form.instance.pk if change else None, error, False) from error

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._shown_again(request, super().changeform_view, args, kwargs)  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._shown_again(request, super().changelist_view, args, kwargs)  # type: ignore[misc]

    def get_form(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return _carrying(super().get_form(request, *args, **kwargs), request)  # type: ignore[misc]

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> Any:
        return _carrying(super().get_changelist_form(request, **kwargs), request)  # type: ignore[misc]

    def delete_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        try:  # Django's delete view writes in a transaction of its own.
            return super().delete_view(request, object_id, *args, **kwargs)  # type: ignore[misc]
        except ValidationError as error:
            self.message_user(request, _refused(error, "deleted"), messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(request.get_full_path())

    def response_action(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # Arguments pass through: Django 6.1 added action_location.
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):  # type: ignore[attr-defined]
                return super().response_action(request, *args, **kwargs)  # type: ignore[misc]
        except ValidationError as error:
            self.message_user(request, _refused(error, "changed"), messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(request.get_full_path())

    def _shown_again(
        self, request: HttpRequest, view: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse:
        try:
            response: HttpResponse = view(request, *args, **kwargs)
            return response
        except _Refused as refused:
            # The view's transaction is rolled back; render it again, refusal attached.
            refusals = getattr(request, _REFUSALS, None)
            if refusals is None:
                refusals = {}
                setattr(request, _REFUSALS, refusals)
            refusals[refused.key] = refused
        try:
            again: HttpResponse = view(request, *args, **kwargs)
            return again
        except _Refused as refused:  # No form to show it on: say it, change nothing.
            self.message_user(request, _refused(refused.error, "saved"), messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(request.get_full_path())


def _carrying(form_class: type[forms.BaseForm], request: HttpRequest) -> Any:
    """Return ``form_class``, or when a save was refused, a subclass that shows why."""
    refusals: dict[Any, _Refused] | None = getattr(request, _REFUSALS, None)
    if not refusals:
        return form_class

    def _post_clean(form: Any) -> None:
        form_class._post_clean(form)  # type: ignore[attr-defined]
        refused = refusals.get(form.instance.pk)
        if refused is not None:
            add_to_form(form, refused.error, fields=refused.fields)

    return type(form_class.__name__, (form_class,), {"_post_clean": _post_clean})


def _refused(error: ValidationError, done: str) -> str:
    return f"Nothing was {done}: {describe(error)}"
