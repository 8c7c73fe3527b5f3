"""``add_error()``: per-row errors raised together, per operation, stage and database."""

from __future__ import annotations

import pickle
import types
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from bulk_triggers import RowErrors, Trigger, bypass
from tests.errorsapp.models import ErrTicket

TITLES = ["a", "bad-b", "c", "bad-d"]
Op = Callable[[list[ErrTicket]], tuple[Callable[[], Any], list[Any]]]


def _save_new(existing: list[ErrTicket]) -> tuple[Callable[[], Any], list[Any]]:
    obj = ErrTicket(title="bad-new")
    return obj.save, [obj]


def _create(existing: list[ErrTicket]) -> tuple[Callable[[], Any], list[Any]]:
    return lambda: ErrTicket.objects.create(title="bad-new"), ["bad-new"]


def _bulk_create(existing: list[ErrTicket]) -> tuple[Callable[[], Any], list[Any]]:
    objs = [ErrTicket(title=f"new-{title}") for title in TITLES]
    return lambda: ErrTicket.objects.bulk_create(objs), [objs[1], objs[3]]


def _save_existing(existing: list[ErrTicket]) -> tuple[Callable[[], Any], list[Any]]:
    obj = existing[1]
    obj.points = 9
    return obj.save, [obj]


def _bulk_update(existing: list[ErrTicket]) -> tuple[Callable[[], Any], list[Any]]:
    objs = existing[::-1]  # Indexes are positions in the caller's list, not in key order.
    for obj in objs:
        obj.points = 9
    return lambda: ErrTicket.objects.bulk_update(objs, ["points"]), [objs[0], objs[2]]


def _update(existing: list[ErrTicket]) -> tuple[Callable[[], Any], list[Any]]:
    return lambda: ErrTicket.objects.update(points=9), [existing[1], existing[3]]


def _delete(existing: list[ErrTicket]) -> tuple[Callable[[], Any], list[Any]]:
    return lambda: ErrTicket.objects.all().delete(), [existing[1], existing[3]]


def _delete_instance(existing: list[ErrTicket]) -> tuple[Callable[[], Any], list[Any]]:
    return existing[3].delete, [existing[3]]


OPERATIONS: dict[str, tuple[str, Op, list[int]]] = {
    "save-new": ("create", _save_new, [0]),
    "create": ("create", _create, [0]),
    "bulk_create": ("create", _bulk_create, [1, 3]),
    "save-existing": ("update", _save_existing, [0]),
    "bulk_update": ("update", _bulk_update, [0, 2]),
    "update": ("update", _update, [1, 3]),
    "delete": ("delete", _delete, [1, 3]),
    "Model.delete": ("delete", _delete_instance, [0]),
}


def refusing(event: str, stage: str, ran: list[str]) -> list[type[Trigger[ErrTicket]]]:
    """Define a trigger marking every "bad" row twice, and one after it that records it ran."""

    def refuse(self: Trigger[ErrTicket], *args: list[ErrTicket]) -> None:
        for row in args[0]:
            if row.title.startswith(("bad", "new-bad")):
                self.add_error(row, f"{row.title} is refused", field="title", code="bad")
                self.add_error(row, "refused as a whole", code="row")

    def later(self: Trigger[ErrTicket], *args: list[ErrTicket]) -> None:
        ran.append(",".join(sorted(row.title for row in args[0])))

    method = f"on_{stage}_{event}"

    def after(self: Trigger[ErrTicket], *args: list[ErrTicket]) -> None:
        ran.append("after stage")

    def body(function: Any, **more: Any) -> Callable[[dict[str, Any]], None]:
        return lambda ns: ns.update({method: function, "__module__": __name__, **more})

    # With a before-stage refusal, the after stage must not run at all.
    watch = {f"on_after_{event}": after} if stage == "before" else {}
    return [
        types.new_class("Refuse", (Trigger[ErrTicket],), exec_body=body(refuse)),
        types.new_class("Later", (Trigger[ErrTicket],), exec_body=body(later, **watch)),
    ]


def stored() -> list[tuple[str, int]]:
    return list(ErrTicket.objects.order_by("pk").values_list("title", "points"))


def existing_rows() -> list[ErrTicket]:
    with bypass():
        ErrTicket.objects.bulk_create([ErrTicket(title=title) for title in TITLES])
    return list(ErrTicket.objects.order_by("pk"))


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_add_error_refuses_the_operation(using: str, operation: str, stage: str) -> None:
    """Every marked row is reported with index, pk and messages; nothing is written."""
    event, make, indexes = OPERATIONS[operation]
    existing = existing_rows()
    before = stored()
    ran: list[str] = []
    refusing(event, stage, ran)
    call, marked = make(existing)
    known = {id(m): m.pk for m in marked if not isinstance(m, str) and m.pk is not None}
    with pytest.raises(RowErrors) as info:
        call()
    error = info.value
    assert stored() == before
    assert ran  # The trigger after the refusing one still ran, with the marked rows too.
    assert all("bad" in titles for titles in ran)  # And no after stage followed a refusal.
    assert [row.index for row in error.rows] == indexes
    titles = [m if isinstance(m, str) else m.title for m in marked]
    assert [row.row.title for row in error.rows] == titles
    assert [row.pk for row in error.rows] == [
        error.rows[0].row.pk if isinstance(m, str) else known.get(id(m), m.pk) for m in marked
    ]
    assert error.message_dict == {
        "title": [f"{title} is refused" for title in titles],
        NON_FIELD_ERRORS: ["refused as a whole"] * len(titles),
    }
    assert [e.code for e in error.error_dict["title"]] == ["bad"] * len(titles)
    assert error.rows[0].message_dict == {
        "title": [f"{titles[0]} is refused"],
        NON_FIELD_ERRORS: ["refused as a whole"],
    }


def test_rows_from_earlier_chunks_count_in_the_index(using: str, settings: Any) -> None:
    """update() over several chunks reports the position in processing order."""
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 3}
    with bypass():
        ErrTicket.objects.bulk_create(
            [ErrTicket(title="bad" if i == 4 else f"r{i}") for i in range(7)]
        )
    refusing("update", "before", [])
    with pytest.raises(RowErrors) as info:
        ErrTicket.objects.update(points=1)
    assert [row.index for row in info.value.rows] == [4]
    assert set(ErrTicket.objects.values_list("points", flat=True)) == {0}


def test_a_row_not_received_is_a_value_error(using: str) -> None:
    """Marking an object the method did not receive names the trigger."""
    stranger = ErrTicket(title="x")

    class MarkStranger(Trigger[ErrTicket]):
        def on_before_create(self, new: list[ErrTicket]) -> None:
            self.add_error(stranger, "no")

    with pytest.raises(ValueError, match=r"MarkStranger\.add_error\(\) was given"):
        ErrTicket.objects.bulk_create([ErrTicket(title="a")])
    assert not ErrTicket.objects.exists()


def test_a_row_failing_the_condition_is_not_received(using: str) -> None:
    """A row of the chunk that the trigger's condition filtered out is not its to mark."""
    from bulk_triggers import IsEqual

    objs = [ErrTicket(title="a"), ErrTicket(title="b")]

    class MarkOther(Trigger[ErrTicket]):
        condition = IsEqual("title", "a")

        def on_before_create(self, new: list[ErrTicket]) -> None:
            self.add_error(objs[1], "no")

    with pytest.raises(ValueError, match=r"not one of the errorsapp\.ErrTicket rows"):
        ErrTicket.objects.bulk_create(objs)


def test_an_unknown_field_is_a_value_error(using: str) -> None:
    """A field the model lacks is refused with a suggestion."""

    class BadField(Trigger[ErrTicket]):
        def on_before_create(self, new: list[ErrTicket]) -> None:
            self.add_error(new[0], "no", field="titel")

    with pytest.raises(ValueError, match="Did you mean 'title'"):
        ErrTicket.objects.create(title="a")


def test_an_attname_is_reported_under_the_field_name(using: str) -> None:
    """``owner_id`` is reported as ``owner``, the name a form knows."""

    class ByAttname(Trigger[ErrTicket]):
        def on_before_create(self, new: list[ErrTicket]) -> None:
            self.add_error(new[0], "no owner", field="owner_id")

    with pytest.raises(RowErrors) as info:
        ErrTicket.objects.create(title="a")
    assert info.value.message_dict == {"owner": ["no owner"]}


def test_add_error_in_the_commit_stage_is_logged_not_raised(
    using: str, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    """The commit stage cannot refuse committed rows: the attempt is logged as an error."""

    class Late(Trigger[ErrTicket]):
        def on_commit_create(self, new: list[ErrTicket]) -> None:
            self.add_error(new[0], "too late")

    with django_capture_on_commit_callbacks(execute=True, using=using):
        ErrTicket.objects.create(title="a")
    assert ErrTicket.objects.count() == 1
    assert "cannot be refused" in caplog.text


def test_outside_an_operation_errors_are_recorded() -> None:
    """A unit test calling the method reads trigger.errors; nothing is raised."""

    class Check(Trigger[ErrTicket]):
        def on_before_update(self, new: list[ErrTicket], old: list[ErrTicket]) -> None:
            for row in new:
                if row.points > 10:
                    self.add_error(row, "too many points", field="points", code="max")

    trigger = Check()
    row = ErrTicket(title="a", points=11)
    trigger.on_before_update([row, ErrTicket(points=1)], [ErrTicket(), ErrTicket()])
    assert [(e.row, e.message, e.field, e.code) for e in trigger.errors] == [
        (row, "too many points", "points", "max")
    ]
    assert Check().errors == []


def test_row_errors_is_a_validation_error_and_pickles(using: str) -> None:
    """RowErrors is caught as ValidationError and survives pickling with its rows."""
    refusing("create", "before", [])
    with pytest.raises(ValidationError) as info:
        ErrTicket.objects.bulk_create([ErrTicket(title="bad")])
    error = info.value
    assert isinstance(error, RowErrors)
    assert "Triggers refused 1 errorsapp.ErrTicket row(s) in the before stage" in str(error)
    copied = pickle.loads(pickle.dumps(error))
    assert copied.message_dict == error.message_dict
    assert [row.index for row in copied.rows] == [0]


def test_refusal_inside_an_outer_transaction_keeps_it_usable(using: str) -> None:
    """Only the operation is undone; the caller's transaction goes on."""
    refusing("create", "after", [])
    with transaction.atomic(using=using):
        with bypass():
            ErrTicket.objects.create(title="kept")
        with pytest.raises(RowErrors):
            ErrTicket.objects.bulk_create([ErrTicket(title="bad"), ErrTicket(title="ok")])
        ErrTicket.objects.filter(title="kept").update(points=3)
    assert stored() == [("kept", 3)]


def test_bulk_update_index_of_a_row_triggers_got_as_a_copy(using: str) -> None:
    """A caller's object holding unsaved values outside ``fields`` is still found by key."""
    rows = existing_rows()
    rows[1].title = "unsaved"  # Not in fields: triggers get a copy with the stored title.
    for row in rows:
        row.points = 4
    refusing("update", "before", [])
    with pytest.raises(RowErrors) as info:
        ErrTicket.objects.bulk_update(rows, ["points"])
    assert [(row.index, row.pk) for row in info.value.rows] == [(1, rows[1].pk), (3, rows[3].pk)]
    assert info.value.rows[0].row is not rows[1]
    assert rows[1].title == "unsaved"
