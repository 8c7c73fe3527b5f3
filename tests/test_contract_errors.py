"""API.md "Per-row errors": ``add_error`` marks rows; the operation then writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import F

from bulk_triggers import Trigger, bypass
from tests.conformapp.models import ConfAccount, ConfLineNote, ConfOrder, ConfOrderLine
from tests.conformapp.spy import Log, define, spy


def _seed() -> list[ConfAccount]:
    with bypass():
        return list(
            ConfAccount.objects.bulk_create(ConfAccount(code=f"c{i}", balance=i) for i in range(3))
        )


def _stored() -> list[tuple[Any, ...]]:
    return sorted(ConfAccount.objects.values_list("code", "name", "balance"))


OPS: dict[str, tuple[str, Any]] = {
    "create": ("create", lambda: ConfAccount.objects.create(code="n", balance=-1)),
    "bulk_create": (
        "create",
        lambda: ConfAccount.objects.bulk_create(
            [ConfAccount(code="n", balance=-1), ConfAccount(code="m", balance=5)]
        ),
    ),
    "save": ("update", lambda: _save(-1)),
    "bulk_update": ("update", lambda: _bulk_update(-1)),
    "update": ("update", lambda: ConfAccount.objects.update(balance=F("balance") - 1)),
    "aupdate": ("update", lambda: async_to_sync(ConfAccount.objects.all().aupdate)(balance=-1)),
    "delete": ("delete", lambda: ConfAccount.objects.filter(balance__lt=1).delete()),
    "obj.delete": ("delete", lambda: ConfAccount.objects.get(code="c0").delete()),
}


def _save(balance: int) -> None:
    obj = ConfAccount.objects.get(code="c0")
    obj.balance = balance
    obj.save()


def _bulk_update(balance: int) -> int:
    objs = list(ConfAccount.objects.all())
    for obj in objs:
        obj.balance = balance if obj.code == "c0" else obj.balance
    return int(ConfAccount.objects.bulk_update(objs, ["balance"]))


def _guard(event: str, stage: str, field: str | None, code: str | None) -> None:
    """Define a trigger marking every row whose balance is below zero (update/create)."""

    def mark(self: Trigger[ConfAccount], *args: list[ConfAccount]) -> None:
        for row in args[-1] if event == "delete" else args[0]:
            if event == "delete" or (row.balance is not None and row.balance < 0):
                self.add_error(row, f"bad {row.code}", field=field, code=code)

    if event == "update":
        method: Any = lambda self, new, old: mark(self, new, old)  # noqa: E731
    else:
        method = lambda self, rows: mark(self, rows)  # noqa: E731
    define("Guard", ConfAccount, {f"on_{stage}_{event}": method})


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize(("field", "code"), [("balance", "negative"), (None, None)])
def test_add_error_writes_nothing_and_raises_a_validation_error(
    using: str, name: str, stage: str, field: str | None, code: str | None
) -> None:
    """Any marked row: nothing written, ``ValidationError`` with ``message_dict`` by field."""
    _seed()
    event, op = OPS[name]
    _guard(event, stage, field, code)
    before = _stored()
    with pytest.raises(ValidationError) as raised:
        op()
    assert _stored() == before
    key = field or NON_FIELD_ERRORS
    assert set(raised.value.message_dict) == {key}
    assert raised.value.message_dict[key][0].startswith("bad ")
    errors = raised.value.error_dict[key]
    assert all(isinstance(e, ValidationError) and e.code == code for e in errors)


def test_remaining_triggers_of_the_stage_still_run(using: str) -> None:
    """After ``add_error``, later triggers of the same stage run; the next stage does not."""
    ran: list[str] = []

    class Mark(Trigger[ConfAccount]):
        order = 1

        def on_before_create(self, new: list[ConfAccount]) -> None:
            self.add_error(new[0], "no", field="code")

    class Later(Trigger[ConfAccount]):
        order = 2

        def on_before_create(self, new: list[ConfAccount]) -> None:
            ran.append("later before")
            self.add_error(new[0], "also no", field="code", code="again")

        def on_after_create(self, new: list[ConfAccount]) -> None:
            ran.append("after")

    with pytest.raises(ValidationError) as raised:
        ConfAccount.objects.create(code="x")
    assert ran == ["later before"]
    assert raised.value.message_dict == {"code": ["no", "also no"]}
    assert [e.code for e in raised.value.error_dict["code"]] == [None, "again"]
    assert not ConfAccount.objects.exists()


@pytest.mark.parametrize("stage", ["before", "after"])
def test_add_error_on_an_object_not_received_is_a_value_error(using: str, stage: str) -> None:
    """Marking an object the method did not receive raises ``ValueError``; nothing written."""
    stranger = ConfAccount(code="stranger")

    def method(self: Trigger[ConfAccount], new: list[ConfAccount]) -> None:
        self.add_error(stranger, "who?")

    define("Stray", ConfAccount, {f"on_{stage}_create": method})
    with pytest.raises(ValueError):
        ConfAccount.objects.create(code="x")
    assert not ConfAccount.objects.exists()


def test_add_error_on_an_equal_copy_is_a_value_error(using: str) -> None:
    """An equal instance (same pk) that is not one of the received rows is refused too."""
    (first, *_) = _seed()

    class Copy(Trigger[ConfAccount]):
        def on_before_update(self, new: list[ConfAccount], old: list[ConfAccount]) -> None:
            self.add_error(ConfAccount.objects.get(pk=new[0].pk), "copy")

    with pytest.raises(ValueError):
        ConfAccount.objects.filter(pk=first.pk).update(name="x")


def test_add_error_on_old_rows_marks_them(using: str) -> None:
    """``old`` rows are rows the method received: marking one refuses the update."""
    (first, *_) = _seed()

    class Old(Trigger[ConfAccount]):
        def on_before_update(self, new: list[ConfAccount], old: list[ConfAccount]) -> None:
            self.add_error(old[0], "old", field="name")

    with pytest.raises(ValidationError) as raised:
        ConfAccount.objects.filter(pk=first.pk).update(name="x")
    assert raised.value.message_dict == {"name": ["old"]}


def test_errors_in_a_cascaded_models_trigger_roll_the_whole_delete_back(using: str) -> None:
    """A row marked by a cascaded model's after-delete trigger leaves every table intact."""
    with bypass():
        account = ConfAccount.objects.create(code="a")
        order = ConfOrder.objects.create(account=account)
        line = ConfOrderLine.objects.create(order=order)
        ConfLineNote.objects.create(line=line)

    class Keep(Trigger[ConfLineNote]):
        def on_after_delete(self, old: list[ConfLineNote]) -> None:
            self.add_error(old[0], "keep me", field="text")

    with pytest.raises(ValidationError) as raised:
        account.delete()
    assert raised.value.message_dict == {"text": ["keep me"]}
    assert ConfLineNote.objects.count() == ConfOrder.objects.count() == 1


def test_add_error_outside_an_operation_records_and_raises_nothing() -> None:
    """Called directly in a unit test, ``add_error`` records on ``trigger.errors``."""

    class Check(Trigger[ConfAccount]):
        def on_before_update(self, new: list[ConfAccount], old: list[ConfAccount]) -> None:
            for row in new:
                if row.balance is not None and row.balance < 0:
                    self.add_error(row, "negative", field="balance", code="min")
                    self.add_error(row, "and odd")

    trigger = Check()
    assert list(trigger.errors) == []
    row = ConfAccount(code="a", balance=-1)
    trigger.on_before_update([row], [ConfAccount(code="a", balance=1)])
    errors = list(trigger.errors)
    assert len(errors) == 2
    text = " ".join(repr(e) + str(e) for e in errors)
    assert "negative" in text and "and odd" in text


def test_errors_outside_an_operation_accepts_any_object() -> None:
    """Outside an operation there are no received rows to check against: nothing raises."""

    class Loose(Trigger[ConfAccount]):
        pass

    trigger = Loose()
    trigger.add_error(ConfAccount(code="x"), "loose", code="c")
    assert len(list(trigger.errors)) == 1


def test_a_validation_error_from_a_before_trigger_propagates_unchanged(using: str) -> None:
    """Raising ``ValidationError`` in a before trigger refuses the rows with that very error."""
    refusal = ValidationError({"code": "taken"})

    class Refuse(Trigger[ConfAccount]):
        def on_before_create(self, new: list[ConfAccount]) -> None:
            raise refusal

    log = Log()
    spy(ConfAccount, log, stages=("after",))
    with pytest.raises(ValidationError) as raised:
        ConfAccount.objects.bulk_create([ConfAccount(code="a")])
    assert raised.value is refusal
    assert log.calls == [] and not ConfAccount.objects.exists()
