"""The ready-made guards: each refuses what it should and lets the rest through, per operation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import models

from bulk_triggers import IsEqual, RowErrors, TriggerDefinitionError, bypass
from bulk_triggers.contrib.guards import FullClean, Protect, ReadOnly, Transitions
from tests.errorsapp.models import ErrOwner, ErrTicket


def ticket(**values: Any) -> ErrTicket:
    with bypass():
        return ErrTicket.objects.create(**{"title": "t", **values})


def change_by(operation: str, row: ErrTicket, **values: Any) -> None:
    """Write ``values`` to ``row`` with save(), bulk_update() or update()."""
    for name, value in values.items():
        setattr(row, name, value)
    if operation == "save":
        row.save()
    elif operation == "bulk_update":
        ErrTicket.objects.bulk_update([row], list(values))
    else:
        ErrTicket.objects.filter(pk=row.pk).update(**values)


UPDATES = ["save", "bulk_update", "update"]
CREATES: dict[str, Callable[..., Any]] = {
    "save": lambda **v: ErrTicket(**v).save(),
    "create": lambda **v: ErrTicket.objects.create(**v),
    "bulk_create": lambda **v: ErrTicket.objects.bulk_create([ErrTicket(**v)]),
}
DELETES: dict[str, Callable[[ErrTicket], Any]] = {
    "Model.delete": lambda row: row.delete(),
    "delete": lambda row: ErrTicket.objects.filter(pk=row.pk).delete(),
}


def stored(row: ErrTicket) -> tuple[Any, ...]:
    return ErrTicket.objects.filter(pk=row.pk).values_list("title", "status", "reference").get()


@pytest.mark.parametrize("operation", UPDATES)
def test_read_only_refuses_a_change(using: str, operation: str) -> None:
    """A changed read-only field is refused on that field, naming model, row and field."""

    class FrozenReference(ReadOnly[ErrTicket]):
        fields = ("reference",)

    row = ticket(reference="A-1")
    with pytest.raises(RowErrors) as info:
        change_by(operation, row, reference="B-2")
    assert info.value.message_dict == {
        "reference": [
            f"errorsapp.ErrTicket {row.pk}: reference is read-only; "
            "it cannot change from 'A-1' to 'B-2'."
        ]
    }
    assert stored(row) == ("t", "draft", "A-1")


@pytest.mark.parametrize("operation", UPDATES)
def test_read_only_lets_other_fields_change(using: str, operation: str) -> None:
    """Other fields change freely, and the field may be set when the row is created."""

    class FrozenReference(ReadOnly[ErrTicket]):
        fields = ("reference",)

    row = ErrTicket.objects.create(title="t", reference="A-1")
    change_by(operation, row, title="renamed")
    assert stored(row) == ("renamed", "draft", "A-1")


def test_read_only_with_a_condition(using: str) -> None:
    """A condition limits the guard: here, the reference is frozen once placed."""

    class FrozenOncePlaced(ReadOnly[ErrTicket]):
        condition = IsEqual("status", "placed")
        fields = ("reference",)

    draft, placed = ticket(reference="A"), ticket(reference="B", status="placed")
    ErrTicket.objects.filter(pk=draft.pk).update(reference="A2")
    with pytest.raises(RowErrors):
        ErrTicket.objects.filter(pk=placed.pk).update(reference="B2")
    assert (stored(draft)[2], stored(placed)[2]) == ("A2", "B")


def workflow() -> None:
    """Define the draft → placed → shipped workflow (inside the test's isolated registry)."""

    class Workflow(Transitions[ErrTicket]):
        field = "status"
        allowed = {"draft": {"placed"}, "placed": {"shipped"}}


@pytest.mark.parametrize("operation", UPDATES)
def test_transitions_refuse_an_unlisted_change(using: str, operation: str) -> None:
    """draft → shipped is not listed: refused on the status field."""
    workflow()
    row = ticket()
    with pytest.raises(RowErrors) as info:
        change_by(operation, row, status="shipped")
    assert info.value.message_dict == {
        "status": [f"errorsapp.ErrTicket {row.pk}: status cannot change from 'draft' to 'shipped'."]
    }
    assert info.value.error_dict["status"][0].code == "invalid_transition"
    assert stored(row)[1] == "draft"


@pytest.mark.parametrize("operation", UPDATES)
def test_transitions_allow_a_listed_change(using: str, operation: str) -> None:
    """draft → placed is listed; an unchanged status is never checked."""
    workflow()
    row = ticket()
    change_by(operation, row, status="placed")
    change_by(operation, row, title="same status")
    assert stored(row) == ("same status", "placed", "")


@pytest.mark.parametrize("operation", CREATES)
def test_transitions_initial_values(using: str, operation: str) -> None:
    """With ``initial`` set, a row must be created in one of those states."""

    class StartAsDraft(Transitions[ErrTicket]):
        field = "status"
        allowed = {"draft": {"placed"}}
        initial = {"draft"}

    with pytest.raises(RowErrors) as info:
        CREATES[operation](title="x", status="placed")
    assert info.value.message_dict == {
        "status": ["errorsapp.ErrTicket (new): status cannot start as 'placed'."]
    }
    CREATES[operation](title="y", status="draft")
    assert list(ErrTicket.objects.values_list("title", flat=True)) == ["y"]


@pytest.mark.parametrize("operation", DELETES)
def test_protect_refuses_delete_and_allows_update(using: str, operation: str) -> None:
    """Protect refuses its event only, and with a condition only the matching rows."""

    class KeepPlaced(Protect[ErrTicket]):
        events = ("delete",)
        condition = IsEqual("status", "placed")

    placed, draft = ticket(status="placed"), ticket()
    with pytest.raises(RowErrors) as info:
        DELETES[operation](placed)
    assert info.value.message_dict == {
        "__all__": [f"errorsapp.ErrTicket {placed.pk}: delete is not allowed."]
    }
    ErrTicket.objects.filter(pk=placed.pk).update(title="still here")
    DELETES[operation](draft)
    assert list(ErrTicket.objects.values_list("title", flat=True)) == ["still here"]


@pytest.mark.parametrize("operation", UPDATES)
def test_protect_refuses_update(using: str, operation: str) -> None:
    """A model protected against update refuses every path that updates."""

    class NoUpdates(Protect[ErrTicket]):
        events = ("update",)

    row = ticket()
    with pytest.raises(RowErrors) as info:
        change_by(operation, row, title="x")
    assert info.value.rows[0].pk == row.pk
    assert stored(row)[0] == "t"
    ErrTicket.objects.filter(pk=row.pk).delete()


@pytest.mark.parametrize("operation", CREATES)
def test_protect_refuses_create(using: str, operation: str) -> None:
    """A model protected against create refuses every path that inserts."""

    class NoCreates(Protect[ErrTicket]):
        events = ("create",)

    with pytest.raises(RowErrors) as info:
        CREATES[operation](title="x")
    assert info.value.message_dict == {
        "__all__": ["errorsapp.ErrTicket (new): create is not allowed."]
    }
    assert not ErrTicket.objects.exists()


@pytest.mark.parametrize("operation", [*UPDATES, "bulk_create"])
def test_full_clean_reports_every_invalid_row(using: str, operation: str) -> None:
    """Each invalid row is reported with Django's messages and codes on its fields."""

    class Clean(FullClean[ErrTicket]):
        pass

    if operation == "bulk_create":
        objs = [ErrTicket(title="ok"), ErrTicket(title="x", points=101, status="nope")]
        with pytest.raises(RowErrors) as info:
            ErrTicket.objects.bulk_create(objs)
        assert [row.index for row in info.value.rows] == [1]
        assert set(info.value.message_dict) == {"points", "status"}
        assert not ErrTicket.objects.exists()
        return
    row = ticket()
    with pytest.raises(RowErrors) as info:
        change_by(operation, row, points=101)
    assert info.value.message_dict == {
        "points": ["Ensure this value is less than or equal to 100."]
    }
    assert info.value.error_dict["points"][0].code == "max_value"
    change_by(operation, row, points=100)
    assert ErrTicket.objects.get().points == 100


def test_full_clean_validates_unique(using: str) -> None:
    """validate_unique reports a duplicate before the database would refuse it."""

    class CleanOwners(FullClean[ErrOwner]):
        pass

    ErrOwner.objects.create(name="Ada")
    with pytest.raises(RowErrors) as info:
        ErrOwner.objects.bulk_create([ErrOwner(name="Bo"), ErrOwner(name="Ada")])
    assert info.value.message_dict == {"name": ["Err owner with this Name already exists."]}
    assert [row.index for row in info.value.rows] == [1]
    assert ErrOwner.objects.count() == 1


def test_guard_unit_test_without_database() -> None:
    """A guard is plain Python too: its errors are recorded on the instance."""

    class FrozenReference(ReadOnly[ErrTicket]):
        fields = ("reference",)

    guard = FrozenReference()
    row = ErrTicket(pk=1, reference="B")
    guard.on_before_update([row], [ErrTicket(pk=1, reference="A")])
    assert [(e.field, e.code) for e in guard.errors] == [("reference", "read_only")]


@pytest.mark.parametrize(
    ("base", "attributes", "message"),
    [
        (ReadOnly, {}, "protects no field"),
        (ReadOnly, {"fields": "reference"}, "must be a tuple of field names"),
        (ReadOnly, {"fields": ("referense",)}, "'referense'"),
        (Protect, {"events": ("remove",)}, "events must be a non-empty tuple"),
        (Transitions, {}, "field must name the field"),
        (Transitions, {"field": "status", "allowed": {"draft": "placed"}}, "must map each value"),
        (Transitions, {"field": "statuz", "allowed": {}}, "'statuz'"),
    ],
)
def test_guard_misconfiguration_is_refused_at_definition(
    base: type, attributes: dict[str, Any], message: str
) -> None:
    """A misconfigured guard is a TriggerDefinitionError naming the trigger."""
    import types

    with pytest.raises(TriggerDefinitionError, match=message) as info:
        types.new_class(
            "Guarded",
            (base[ErrTicket],),
            exec_body=lambda ns: ns.update({**attributes, "__module__": __name__}),
        )
    assert "Guarded" in str(info.value)


def test_generic_guard_subclass_binds_later() -> None:
    """A generic subclass of a guard may leave it unconfigured until a model is bound."""
    from typing import TypeVar

    T = TypeVar("T", bound=models.Model)

    class FrozenTitle(ReadOnly[T]):  # type: ignore[valid-type]
        pass

    class TicketTitle(FrozenTitle[ErrTicket]):
        fields = ("title",)

    assert TicketTitle.model is ErrTicket
