"""Partial success: refused rows are left out, the others written with their triggers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from bulk_triggers import Trigger, bypass
from bulk_triggers.partial import Results, partial
from tests.errorsapp.models import ErrOwner, ErrTicket
from tests.test_errors import TITLES, refusing


def committed(event: str, seen: list[str]) -> None:
    """Define a trigger recording the titles its commit stage receives."""

    def record(self: Trigger[ErrTicket], *args: list[ErrTicket]) -> None:
        seen.extend(row.title for row in args[0])

    import types

    types.new_class(
        "SeeCommit",
        (Trigger[ErrTicket],),
        exec_body=lambda ns: ns.update({f"on_commit_{event}": record, "__module__": __name__}),
    )


def existing() -> list[ErrTicket]:
    with bypass():
        ErrTicket.objects.bulk_create(ErrTicket(title=title) for title in TITLES)
    return list(ErrTicket.objects.order_by("pk"))


OPERATIONS: dict[str, tuple[str, Callable[[list[ErrTicket]], Results]]] = {
    "bulk_create": (
        "create",
        lambda rows: partial(ErrTicket.objects).bulk_create(
            [ErrTicket(title=f"new-{title}") for title in TITLES]
        ),
    ),
    "bulk_update": (
        "update",
        lambda rows: partial(ErrTicket.objects).bulk_update(
            [setattr(row, "points", 5) or row for row in rows], ["points"]
        ),
    ),
    "update": ("update", lambda rows: partial(ErrTicket.objects.all()).update(points=5)),
    "delete": ("delete", lambda rows: partial(ErrTicket.objects.all()).delete()),
}


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_refused_rows_are_left_out(
    using: str, operation: str, stage: str, django_capture_on_commit_callbacks: Any
) -> None:
    """The good rows are written; each input row has its outcome; commit sees only written."""
    event, run = OPERATIONS[operation]
    rows = existing() if operation != "bulk_create" else []
    refusing(event, stage, [])
    seen: list[str] = []
    committed(event, seen)
    with django_capture_on_commit_callbacks(execute=True, using=using):
        results = run(rows)
    assert [outcome.written for outcome in results] == [True, False, True, False]
    assert [outcome.index for outcome in results] == [0, 1, 2, 3]
    if event == "create":  # Keys of a rolled-back insert are not left on the objects.
        assert [outcome.obj.pk is None for outcome in results] == [False, True, False, True]
    elif operation == "bulk_update":
        assert [outcome.obj for outcome in results] == rows
    else:
        assert [outcome.obj for outcome in results] == [row.pk for row in rows]
    assert results.failed[0].errors == {
        "title": [f"{'new-' if event == 'create' else ''}bad-b is refused"],
        "__all__": ["refused as a whole"],
    }
    good = [title for title in TITLES if not title.startswith("bad")]
    expected = {
        "create": [f"new-{t}" for t in good],
        "update": [(t, 5 if t in good else 0) for t in TITLES],
        "delete": ["bad-b", "bad-d"],
    }[event]
    if event == "update":
        assert list(ErrTicket.objects.values_list("title", "points")) == expected
    else:
        assert list(ErrTicket.objects.values_list("title", flat=True)) == expected
    written = [f"new-{t}" for t in good] if event == "create" else good
    assert sorted(seen) == written


def test_integrity_error_on_one_row_leaves_only_it_out(
    using: str, django_capture_on_commit_callbacks: Any
) -> None:
    """A unique violation on one row: rolled back, the others retried and written."""
    seen: list[str] = []

    class SeeOwners(Trigger[ErrOwner]):
        def on_commit_create(self, new: list[ErrOwner]) -> None:
            seen.extend(owner.name for owner in new)

    ErrOwner.objects.create(name="Ada")
    seen.clear()
    objs = [ErrOwner(name="Bo"), ErrOwner(name="Ada"), ErrOwner(name="Cy"), ErrOwner(name="Bo")]
    with django_capture_on_commit_callbacks(execute=True, using=using):
        results = partial(ErrOwner.objects).bulk_create(objs)
    assert [outcome.written for outcome in results] == [True, False, True, False]
    assert list(results.failed[0].errors) == ["__all__"]
    assert sorted(ErrOwner.objects.values_list("name", flat=True)) == ["Ada", "Bo", "Cy"]
    assert sorted(seen) == ["Bo", "Cy"]
    assert objs[1].pk is None and objs[1]._state.adding  # Left as if never inserted.
    assert results.written == [objs[0], objs[2]]


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_retries_are_bounded(using: str, retries: int) -> None:
    """Each batch attempt that fails drops its rows; past the limit, rows go one at a time."""
    batches: list[int] = []

    class RefuseTheFirst(Trigger[ErrTicket]):
        def on_after_create(self, new: list[ErrTicket]) -> None:
            batches.append(len(new))
            self.add_error(new[0], "first of the batch")

    results = partial(ErrTicket.objects, retries=retries).bulk_create(
        [ErrTicket(title=str(i)) for i in range(6)]
    )
    batch_attempts = min(retries + 1, 6)
    assert batches[:batch_attempts] == [6 - n for n in range(batch_attempts)]
    assert batches[batch_attempts:] == [1] * (6 - batch_attempts)
    assert results.written == []
    assert not ErrTicket.objects.exists()


def test_bad_retries_value() -> None:
    """A negative retry count is refused."""
    with pytest.raises(ValueError, match="retries must be a non-negative integer"):
        partial(ErrTicket.objects, retries=-1)


def test_nothing_refused_writes_everything_in_one_attempt(using: str) -> None:
    """With no refusal the operation runs once, as a plain call would."""
    calls: list[int] = []

    class Count(Trigger[ErrTicket]):
        def on_before_create(self, new: list[ErrTicket]) -> None:
            calls.append(len(new))

    results = partial(ErrTicket.objects).bulk_create([ErrTicket(title="a"), ErrTicket(title="b")])
    assert calls == [2]
    assert [outcome.written for outcome in results] == [True, True]


def test_a_raised_validation_error_is_isolated_row_by_row(using: str) -> None:
    """A refusal that names no row: the rows go one at a time and only the bad one fails."""

    class RaiseForBad(Trigger[ErrTicket]):
        def on_before_create(self, new: list[ErrTicket]) -> None:
            if any(row.title == "bad" for row in new):
                raise ValidationError("A bad title is in the batch.")

    results = partial(ErrTicket.objects).bulk_create(
        [ErrTicket(title="a"), ErrTicket(title="bad"), ErrTicket(title="c")]
    )
    assert [outcome.written for outcome in results] == [True, False, True]
    assert results.failed[0].errors == {"__all__": ["A bad title is in the batch."]}
    assert list(ErrTicket.objects.values_list("title", flat=True)) == ["a", "c"]


def test_other_exceptions_propagate_and_undo_everything(using: str) -> None:
    """A bug in a trigger is not a refusal: it propagates and nothing is written."""

    class Broken(Trigger[ErrTicket]):
        def on_after_create(self, new: list[ErrTicket]) -> None:
            if len(new) == 1:
                raise RuntimeError("broken")
            self.add_error(new[0], "first")

    with pytest.raises(RuntimeError, match="broken"):
        partial(ErrTicket.objects, retries=0).bulk_create(
            [ErrTicket(title="a"), ErrTicket(title="b")]
        )
    assert not ErrTicket.objects.exists()
