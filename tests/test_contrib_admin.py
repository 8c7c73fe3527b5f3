"""Trigger refusals on Django forms and in the admin: shown to the user, nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.test import Client

from bulk_triggers import Trigger, bypass
from tests.errorsapp.models import ErrOwner, ErrTicket

ADMIN = "/admin/errorsapp/errticket/"


def refuse(kind: str) -> None:
    """Define a trigger refusing tickets titled "bad…" or with 50+ points, as ``kind`` says."""

    def check(trigger: Trigger[ErrTicket], rows: list[ErrTicket]) -> None:
        for row in rows:
            if row.title.startswith("bad"):
                if kind == "raise":
                    raise ValidationError({"title": "Bad titles are refused."})
                trigger.add_error(row, "Bad titles are refused.", field="title")
            if row.points >= 50:
                trigger.add_error(row, "Too many points for this ticket.")

    if kind == "after":

        class RefuseAfter(Trigger[ErrTicket]):
            def on_after_create(self, new: list[ErrTicket]) -> None:
                check(self, new)

            def on_after_update(self, new: list[ErrTicket], old: list[ErrTicket]) -> None:
                check(self, new)

        return

    class Refuse(Trigger[ErrTicket]):
        def on_before_create(self, new: list[ErrTicket]) -> None:
            check(self, new)

        def on_before_update(self, new: list[ErrTicket], old: list[ErrTicket]) -> None:
            check(self, new)

        def on_before_delete(self, old: list[ErrTicket]) -> None:
            for row in old:
                if row.status == "placed":
                    self.add_error(row, f"{row.title} is placed and cannot be deleted.")


def tickets(*titles: str, status: str = "draft") -> list[ErrTicket]:
    with bypass():
        return ErrTicket.objects.bulk_create(ErrTicket(title=t, status=status) for t in titles)


def stored() -> list[tuple[str, str, int]]:
    return list(ErrTicket.objects.order_by("pk").values_list("title", "status", "points"))


def form_errors(response: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = response.context["adminform"].form.errors
    return {name: list(messages) for name, messages in errors.items()}


@pytest.mark.parametrize("kind", ["add_error", "raise", "after"])
def test_change_form_shows_the_refusal_on_the_field(using: str, admin_client: Client, kind: str):
    """The change form comes back (200) with the message on the title; nothing is saved."""
    (ticket,) = tickets("fine")
    refuse(kind)
    data = {"title": "bad one", "status": "draft", "points": "1", "reference": ""}
    response = admin_client.post(f"{ADMIN}{ticket.pk}/change/", data)
    assert response.status_code == 200
    assert form_errors(response) == {"title": ["Bad titles are refused."]}
    assert b"Bad titles are refused." in response.content
    assert stored() == [("fine", "draft", 0)]
    assert not LogEntry.objects.exists()


def test_change_form_shows_a_row_error_as_non_field(using: str, admin_client: Client):
    """An error without a field shows above the form."""
    (ticket,) = tickets("fine")
    refuse("add_error")
    data = {"title": "fine", "status": "draft", "points": "60", "reference": ""}
    response = admin_client.post(f"{ADMIN}{ticket.pk}/change/", data)
    assert response.status_code == 200
    assert form_errors(response) == {"__all__": ["Too many points for this ticket."]}
    assert stored() == [("fine", "draft", 0)]


@pytest.mark.parametrize("kind", ["add_error", "after"])
def test_add_form_shows_the_refusal(using: str, admin_client: Client, kind: str):
    """The add form comes back with the message; no row is inserted."""
    refuse(kind)
    data = {"title": "bad new", "status": "draft", "points": "0", "reference": ""}
    response = admin_client.post(f"{ADMIN}add/", data)
    assert response.status_code == 200
    assert form_errors(response) == {"title": ["Bad titles are refused."]}
    assert not ErrTicket.objects.exists()


def test_accepted_change_still_saves(using: str, admin_client: Client):
    """With no refusal the mixin changes nothing: the admin saves and redirects."""
    (ticket,) = tickets("fine")
    refuse("add_error")
    data = {"title": "better", "status": "placed", "points": "3", "reference": ""}
    response = admin_client.post(f"{ADMIN}{ticket.pk}/change/", data)
    assert response.status_code == 302
    assert stored() == [("better", "placed", 3)]


def test_list_editable_shows_the_refused_row(using: str, admin_client: Client):
    """A refused row of the changelist formset shows its error; no row is saved."""
    first, second = tickets("one", "two")
    refuse("add_error")
    data = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(first.pk),
        "form-0-status": "placed",
        "form-0-points": "5",
        "form-1-id": str(second.pk),
        "form-1-status": "draft",
        "form-1-points": "70",
        "_save": "Save",
    }
    response = admin_client.post(ADMIN, data)
    assert response.status_code == 200
    forms = {form.instance.pk: form.errors for form in response.context["cl"].formset.forms}
    assert forms[first.pk] == {}
    assert list(forms[second.pk]["__all__"]) == ["Too many points for this ticket."]
    assert stored() == [("one", "draft", 0), ("two", "draft", 0)]


def test_delete_view_redirects_with_the_message(using: str, admin_client: Client):
    """The delete view answers with the trigger's message; the row stays."""
    (ticket,) = tickets("kept", status="placed")
    refuse("add_error")
    response = admin_client.post(f"{ADMIN}{ticket.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["Nothing was deleted: kept is placed and cannot be deleted."]
    assert stored() == [("kept", "placed", 0)]
    assert not LogEntry.objects.exists()


def test_delete_selected_action_reports_instead_of_failing(using: str, admin_client: Client):
    """The "delete selected" action rolls back (log entries too) and shows a message."""
    first, second = tickets("a", "b", status="placed")
    refuse("add_error")
    data = {
        "action": "delete_selected",
        "_selected_action": [str(first.pk), str(second.pk)],
        "post": "yes",
    }
    response = admin_client.post(ADMIN, data, follow=True)
    assert response.status_code == 200
    (shown,) = [str(message) for message in response.context["messages"]]
    assert shown == (
        "Nothing was changed: a is placed and cannot be deleted. b is placed and cannot be deleted."
    )
    assert len(stored()) == 2
    assert not LogEntry.objects.exists()


def test_inline_refusal_shows_on_the_parent_form(using: str, admin_client: Client):
    """A refused inline row shows as a non-field error of the page's form; nothing saved."""
    owner = ErrOwner.objects.create(name="Ada")
    refuse("add_error")
    data = {
        "name": "Ada Lovelace",
        "tickets-TOTAL_FORMS": "1",
        "tickets-INITIAL_FORMS": "0",
        "tickets-MIN_NUM_FORMS": "0",
        "tickets-MAX_NUM_FORMS": "1000",
        "tickets-0-title": "bad inline",
        "tickets-0-points": "0",
        "tickets-0-owner": str(owner.pk),
    }
    response = admin_client.post(f"/admin/errorsapp/errowner/{owner.pk}/change/", data)
    assert response.status_code == 200
    assert form_errors(response) == {"__all__": ["title: Bad titles are refused."]}
    assert ErrOwner.objects.get().name == "Ada"
    assert not ErrTicket.objects.exists()


@pytest.mark.parametrize("view", ["edit", "update"])
def test_model_form_views_show_the_refusal(using: str, client: Client, view: str):
    """A function view with the form mixin, and an UpdateView with the view mixin."""
    (ticket,) = tickets("fine")
    refuse("add_error")
    response = client.post(
        f"/tickets/{ticket.pk}/{view}/", {"title": "bad", "status": "draft", "points": "0"}
    )
    assert response.status_code == 200
    assert dict(response.context["form"].errors) == {"title": ["Bad titles are refused."]}
    assert response.content.count(b"Bad titles are refused.") == 1
    assert stored() == [("fine", "draft", 0)]


def test_refusal_with_no_form_to_carry_it_becomes_a_message(
    using: str, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the page's forms cannot show the refusal, the admin says it and saves nothing."""
    import bulk_triggers.contrib.admin as contrib_admin

    monkeypatch.setattr(contrib_admin, "_carrying", lambda form_class, request: form_class)
    (ticket,) = tickets("fine")
    refuse("add_error")
    data = {"title": "bad one", "status": "draft", "points": "1", "reference": ""}
    response = admin_client.post(f"{ADMIN}{ticket.pk}/change/", data, follow=True)
    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["Nothing was saved: title: Bad titles are refused."]
    assert stored() == [("fine", "draft", 0)]
