"""Plain Django views with ModelForms, for the form mixin tests."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template import engines
from django.views.generic import UpdateView

from bulk_triggers.contrib.forms import TriggerErrorsFormMixin, TriggerErrorsViewMixin
from tests.errorsapp.models import ErrTicket

_PAGE = engines["django"].from_string("{{ form.as_p }}")


class TicketForm(TriggerErrorsFormMixin, forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ErrTicket
        fields = ["title", "status", "points"]


def edit_ticket(request: HttpRequest, pk: int) -> HttpResponse:
    """A function view: is_valid(), then save(), which may still be refused."""
    form = TicketForm(request.POST, instance=get_object_or_404(ErrTicket, pk=pk))
    if form.is_valid():
        try:
            form.save()
        except forms.ValidationError:
            pass  # The form now carries the triggers' messages.
        else:
            return redirect("/")
    return HttpResponse(_PAGE.render({"form": form}, request))


class TicketUpdate(TriggerErrorsViewMixin, UpdateView):  # type: ignore[type-arg]
    model = ErrTicket
    fields = ["title", "status", "points"]
    success_url = "/"

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        return HttpResponse(_PAGE.render(context, self.request))
