"""Values a trigger changes in place, in a column whose first row holds no container.

Which columns get their own copies in ``new`` was decided from the first row of a chunk
(or from the field's type for JSON, arrays and hstore): a custom field holding lists with
NULL on the first row then shared its later rows' lists between ``old``, ``new`` and the
planned values, so a before trigger's in-place change went unwritten and showed in ``old``.
Every path that snapshots rows or builds ``new`` from ``old`` is checked here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import F

from bulk_triggers import bypass
from tests.mutableapp.models import Phrase
from tests.recorder import record


@pytest.fixture(params=[False, True], ids=["pushdown_off", "pushdown_on"])
def settings_for(request: pytest.FixtureRequest, settings: Any) -> None:
    settings.BULK_TRIGGERS = {"CHUNK_SIZE": 3, "PUSHDOWN": request.param}


def _rows() -> list[int]:
    """Three rows a chunk: NULL first, then lists."""
    with bypass():
        rows = Phrase.objects.bulk_create(
            [
                Phrase(n=0),
                Phrase(n=1, words=["a"]),
                Phrase(n=2, words=["b", "c"]),
                Phrase(n=3),
                Phrase(n=4, words=["d"]),
            ]
        )
    return [row.pk for row in rows]


def _append(new: list[Phrase], old: list[Phrase] | None = None) -> None:
    for row in new:
        if row.words is not None:
            row.words.append(f"t{row.n}")


def _stored() -> dict[int, Any]:
    with bypass():
        return dict(Phrase.objects.values_list("pk", "words"))


def _olds_untouched(recorder: Any) -> None:
    for call in recorder.of("after", "update"):
        for was in call.old_objects or []:
            assert not any(str(word).startswith("t") for word in was.words or []), was.words


@pytest.mark.parametrize(
    "update",
    [lambda: Phrase.objects.update(n=F("n") + 10), lambda: Phrase.objects.update(n=7)],
    ids=["expression", "literal"],
)
def test_update_writes_in_place_changes_of_a_custom_list(
    using: str, settings_for: None, update: Any
) -> None:
    pks = _rows()
    recorder = record(
        Phrase, stages=["before", "after"], events=["update"], hooks={("before", "update"): _append}
    )
    assert update() == 5
    stored = _stored()
    assert stored[pks[0]] is None and stored[pks[3]] is None
    n = {pk: i for i, pk in enumerate(pks)}
    for pk in (pks[1], pks[2], pks[4]):
        assert stored[pk][-1] == f"t{n[pk] + 10}" or stored[pk][-1] == "t7", stored[pk]
    _olds_untouched(recorder)


def test_update_to_a_list_literal_gives_each_row_its_own(using: str, settings_for: None) -> None:
    """update(words=[...]) with stored NULLs: one row's in-place change stays its own."""
    pks = _rows()

    def first_only(new: list[Phrase], old: list[Phrase]) -> None:
        new[0].words.append("only")

    record(Phrase, stages=["before"], events=["update"], hooks={("before", "update"): first_only})
    target = ["x", "y"]
    assert Phrase.objects.update(words=target) == 5
    assert target == ["x", "y"]
    stored = _stored()
    assert stored[pks[0]] == ["x", "y", "only"]  # The first row of the first chunk.
    assert stored[pks[3]] == ["x", "y", "only"]  # The first row of the second chunk.
    for pk in (pks[1], pks[2], pks[4]):
        assert stored[pk] == ["x", "y"], (pk, stored[pk])


def test_bulk_update_writes_in_place_changes_of_an_unlisted_custom_list(
    using: str, settings_for: None
) -> None:
    """bulk_update(objs, ["n"]): a before trigger's in-place change of words is written too."""
    pks = _rows()
    with bypass():
        objs = list(Phrase.objects.order_by("pk"))
    for obj in objs:
        obj.n += 100
    recorder = record(
        Phrase, stages=["before", "after"], events=["update"], hooks={("before", "update"): _append}
    )
    Phrase.objects.bulk_update(objs, ["n"])
    stored = _stored()
    assert stored[pks[0]] is None
    for i in (1, 2, 4):
        assert stored[pks[i]][-1] == f"t{100 + i}", stored[pks[i]]
    _olds_untouched(recorder)


@pytest.mark.parametrize("stages", [["before", "after"], ["after"]], ids=["before_after", "after"])
def test_update_to_a_custom_literal_shows_it_as_the_column_reads(
    using: str, settings_for: None, stages: list[str]
) -> None:
    """new holds what from_db_value() makes of the stored text, not to_python()'s str(list).

    The after-only variant is PostgreSQL's one-statement path; elsewhere the same path as
    the other.
    """
    _rows()
    recorder = record(Phrase, stages=stages, events=["update"])
    assert Phrase.objects.update(words=["x", "y"]) == 5
    calls = [call for stage in stages for call in recorder.of(stage, "update")]
    assert calls
    for call in calls:
        assert call.column("words") == [["x", "y"]] * len(call.new or []), call.stage
    assert set(map(tuple, _stored().values())) == {("x", "y")}
