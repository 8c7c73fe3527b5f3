"""Deletes fire the triggers of every row Django's deletion collector removes or re-keys."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connections, models
from django.db.models import ProtectedError, RestrictedError
from django.test.utils import CaptureQueriesContext

from bulk_triggers import Trigger, bypass
from bulk_triggers.testing import Capture, capture_triggers
from tests.cascadesapp.models import (
    CascBranch,
    CascDefaulted,
    CascLabel,
    CascLabelling,
    CascLeaf,
    CascNode,
    CascNote,
    CascNullable,
    CascPlace,
    CascProtected,
    CascRestricted,
    CascRoot,
    CascSet,
    CascShop,
    CascTag,
    fallback_root,
)

TagLink = CascRoot.tags.through
TREE = [
    CascRoot,
    CascBranch,
    CascLeaf,
    CascNullable,
    CascDefaulted,
    CascSet,
    CascNote,
    CascTag,
    TagLink,
    CascLabel,
    CascLabelling,
    CascPlace,
    CascShop,
    CascRestricted,
]


def build_tree(leaves: int = 2) -> CascRoot:
    """Create a root with one row behind each kind of relation (and SET()'s fallback root)."""
    fallback_root()
    root = CascRoot.objects.create(name="root")
    for b in range(2):
        branch = CascBranch.objects.create(root=root, name=f"b{b}")
        CascLeaf.objects.bulk_create(CascLeaf(branch=branch) for _ in range(leaves))
        CascRestricted.objects.create(branch=branch, root=root)
    CascNullable.objects.create(root=root)
    CascDefaulted.objects.create(root=root)
    CascSet.objects.create(root=root)
    CascNote.objects.create(target=root, text="n1")
    CascNote.objects.create(target=root, text="n2")
    root.tags.add(*CascTag.objects.bulk_create([CascTag(name="t1"), CascTag(name="t2")]))
    root.labels.add(CascLabel.objects.create(name="l"), through_defaults={"weight": 3})
    CascShop.objects.create(root=root, name="shop")
    return root


def contents() -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every tree table, to compare before and after."""
    return {
        model._meta.label: sorted(
            tuple(str(value) for value in row)
            for row in model._base_manager.values_list(
                *[field.attname for field in model._meta.concrete_fields]
            )
        )
        for model in TREE
    }


def watch(
    *models_: type[models.Model], hooks: dict[Any, Callable[..., None]] | None = None
) -> None:
    """Define a trigger with before and after delete and update methods on each model."""
    hooks = hooks or {}
    for model in models_:

        def method(key: tuple[Any, str, str]) -> Callable[..., None]:
            def run(self: Any, *rows: Any) -> None:
                if key in hooks:
                    hooks[key](*rows)

            return run

        namespace = {
            f"on_{stage}_{event}": method((model, stage, event))
            for stage in ("before", "after")
            for event in ("delete", "update")
        }
        types.new_class(
            f"Watch{model.__name__}",
            (Trigger[model],),  # type: ignore[valid-type]
            {},
            lambda ns, namespace=namespace: ns.update(namespace),
        )


def rows_of(captured: Capture, model: type[models.Model], stage: str, event: str) -> list[Any]:
    """Return the primary keys the model's triggers received in one stage, in order."""
    side = "old" if event == "delete" else "new"
    return [
        row.pk
        for call in captured.of(stage=stage, event=event)
        if call.trigger.model is model
        for row in getattr(call, side)
    ]


def expected_deletes(root: CascRoot) -> dict[type[models.Model], list[Any]]:
    """Return, per model, the keys of the rows that deleting ``root`` removes."""
    return {
        CascRoot: [root.pk],
        CascBranch: sorted(root.branches.values_list("pk", flat=True)),
        CascLeaf: sorted(CascLeaf.objects.filter(branch__root=root).values_list("pk", flat=True)),
        CascNote: sorted(root.notes.values_list("pk", flat=True)),
        TagLink: sorted(TagLink.objects.filter(cascroot=root).values_list("pk", flat=True)),
        CascLabelling: sorted(root.casclabelling_set.values_list("pk", flat=True)),
        CascShop: sorted(root.shops.values_list("pk", flat=True)),
        CascRestricted: sorted(root.restricted.values_list("pk", flat=True)),
        CascTag: [],
        CascLabel: [],
    }


def _queryset_delete(root: CascRoot) -> Any:
    return CascRoot.objects.filter(pk=root.pk).delete()


def _instance_delete(root: CascRoot) -> Any:
    return root.delete()


def _async_instance_delete(root: CascRoot) -> Any:
    return async_to_sync(root.adelete)()


def _async_queryset_delete(root: CascRoot) -> Any:
    return async_to_sync(CascRoot.objects.filter(pk=root.pk).adelete)()


ENTRIES = {
    "queryset": _queryset_delete,
    "instance": _instance_delete,
    "adelete": _async_instance_delete,
    "queryset_adelete": _async_queryset_delete,
}


def plain_delete(entry: str, root: CascRoot) -> Any:
    """Delete ``root`` with Django's own methods, which know nothing of triggers."""
    if entry.startswith("queryset"):
        return models.QuerySet(CascRoot).filter(pk=root.pk).delete()
    return models.Model.delete(root)


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_collected_row_fires_once_per_stage(using: str, entry: str) -> None:
    """Each model's delete triggers get exactly its collected rows; SET_* rows fire updates."""
    plain = plain_delete(entry, build_tree())
    root = build_tree()
    fallback = CascRoot.objects.get(name="fallback")
    root_pk = root.pk
    expected = expected_deletes(root)
    updated = {
        model: list(model.objects.filter(root=root).values_list("pk", flat=True))
        for model in (CascNullable, CascDefaulted, CascSet)
    }
    watch(*TREE)
    with capture_triggers() as captured:
        assert ENTRIES[entry](root) == plain
    for stage in ("before", "after"):
        for model, pks in expected.items():
            assert rows_of(captured, model, stage, "delete") == pks, (model, stage)
        for model, pks in updated.items():
            assert rows_of(captured, model, stage, "update") == pks, (model, stage)
            (call,) = [
                c for c in captured.of(stage=stage, event="update") if c.trigger.model is model
            ]
            assert [row.root_id for row in call.old or []] == [root_pk]
            new_key = fallback.pk if model is CascSet else None
            assert [row.root_id for row in call.new or []] == [new_key]
    assert CascNullable.objects.get(pk=updated[CascNullable][0]).root_id is None
    assert CascSet.objects.get(pk=updated[CascSet][0]).root_id == fallback.pk


@pytest.mark.parametrize("entry", ["queryset", "instance"])
def test_before_stages_all_run_before_the_first_write(using: str, entry: str) -> None:
    """Every before stage sees the whole tree stored; every after stage sees it gone."""
    root = build_tree()
    seen: list[tuple[str, int, int]] = []

    def look(stage: str) -> Callable[..., None]:
        return lambda *rows: seen.append(
            (stage, CascLeaf.objects.count(), CascRoot.objects.filter(name="root").count())
        )

    hooks = {
        (m, s, e): look(s) for m in TREE for s in ("before", "after") for e in ("delete", "update")
    }
    watch(*TREE, hooks=hooks)
    leaves = CascLeaf.objects.count()
    ENTRIES[entry](root)
    before = [(count, roots) for stage, count, roots in seen if stage == "before"]
    after = [(count, roots) for stage, count, roots in seen if stage == "after"]
    assert before and set(before) == {(leaves, 1)}
    assert after and set(after) == {(0, 0)}
    assert [stage for stage, _, _ in seen] == ["before"] * len(before) + ["after"] * len(after)


def test_models_run_updates_first_then_in_djangos_deletion_order(using: str) -> None:
    """Within each stage: SET_* updates, then deletes with cascaded rows before their parents."""
    root = build_tree()
    watch(*TREE)
    with capture_triggers() as captured:
        root.delete()
    order = {
        stage: [(call.trigger.model, call.event) for call in captured.of(stage=stage)]
        for stage in ("before", "after")
    }
    assert order["before"] == order["after"]
    events = [event for _, event in order["before"]]
    assert events == sorted(events, key=lambda event: event != "update")
    deleted = [model for model, event in order["before"] if event == "delete"]
    assert deleted[-1] is CascRoot
    assert deleted.index(CascLeaf) < deleted.index(CascBranch)
    assert deleted.index(CascShop) < deleted.index(CascRoot)


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("entry", ENTRIES)
def test_cascade_depth(using: str, entry: str, depth: int) -> None:
    """A trigger only on the deepest model fires for the rows two or three levels down."""
    root = build_tree()
    deepest = CascBranch if depth == 2 else CascLeaf
    expected = expected_deletes(root)[deepest]
    watch(deepest)
    with capture_triggers() as captured:
        ENTRIES[entry](root)
    assert rows_of(captured, deepest, "before", "delete") == expected
    assert rows_of(captured, deepest, "after", "delete") == expected
    assert not deepest.objects.exists()


@pytest.mark.parametrize("entry", ENTRIES)
def test_self_referencing_tree(using: str, entry: str) -> None:
    """Deleting a tree's top node fires CascNode's triggers once per node, in one dispatch."""
    top = CascNode.objects.create(name="top")
    middle = [CascNode.objects.create(parent=top) for _ in range(2)]
    bottom = [CascNode.objects.create(parent=node) for node in middle for _ in range(2)]
    other = CascNode.objects.create(name="other")
    expected = sorted(node.pk for node in [top, *middle, *bottom])
    watch(CascNode)
    with capture_triggers() as captured:
        if entry.startswith("queryset"):
            result = CascNode.objects.filter(pk=top.pk).delete()
        else:
            result = top.delete()
    assert result == (7, {"cascadesapp.CascNode": 7})
    # MySQL nulls the nullable self-key before deleting: those rows fire deletes alone.
    assert captured.of(event="update") == []
    for stage in ("before", "after"):
        assert rows_of(captured, CascNode, stage, "delete") == expected
    assert list(CascNode.objects.values_list("pk", flat=True)) == [other.pk]


@pytest.mark.parametrize("entry", ["queryset", "instance"])
def test_protect_refuses_before_any_trigger(using: str, entry: str) -> None:
    """A PROTECT reference raises Django's ProtectedError before any trigger runs."""
    root = build_tree()
    CascProtected.objects.create(owner=root.branches.first())
    before = contents()
    watch(*TREE, CascProtected)
    with capture_triggers() as captured, pytest.raises(ProtectedError):
        ENTRIES[entry](root)
    assert captured.calls == []
    assert contents() == before


@pytest.mark.parametrize("entry", ["queryset", "instance"])
def test_restrict_refuses_unless_the_restricted_rows_cascade(using: str, entry: str) -> None:
    """Deleting a branch alone is refused (RESTRICT); deleting the root takes them along."""
    root = build_tree()
    branch = root.branches.first()
    assert branch is not None
    before = contents()
    watch(*TREE)
    with capture_triggers() as captured, pytest.raises(RestrictedError):
        if entry == "queryset":
            CascBranch.objects.filter(pk=branch.pk).delete()
        else:
            branch.delete()
    assert captured.calls == []
    assert contents() == before
    restricted = expected_deletes(root)[CascRestricted]
    with capture_triggers() as captured:
        ENTRIES[entry](root)
    assert rows_of(captured, CascRestricted, "after", "delete") == restricted


@pytest.mark.parametrize("entry", ["queryset", "instance"])
def test_multi_table_parent_rows_are_not_dispatched_twice(using: str, entry: str) -> None:
    """A child's parent row fires through the child's dispatch only, never a second time."""
    shop = CascShop.objects.create(root=CascRoot.objects.create(), name="s")
    lone = CascPlace.objects.create(name="lone")
    watch(CascPlace, CascShop)
    with capture_triggers() as captured:
        if entry == "queryset":
            result = CascPlace.objects.filter(pk__in=[shop.pk, lone.pk]).delete()
        else:
            result = CascPlace.objects.get(pk=shop.pk).delete()
    place_rows = rows_of(captured, CascPlace, "before", "delete")
    assert len(place_rows) == len(set(place_rows))
    assert (lone.pk in place_rows) is (entry == "queryset")
    assert place_rows.count(shop.pk) <= 1
    assert rows_of(captured, CascShop, "before", "delete") == [shop.pk]
    assert result[1]["cascadesapp.CascShop"] == 1
    assert not CascPlace.objects.filter(pk=shop.pk).exists()


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("via", ["child-queryset", "child-instance", "parent-queryset"])
def test_deleting_a_child_gives_parent_triggers_the_child_instance_once(
    using: str, via: str, stage: str
) -> None:
    """The parent's delete triggers get the child instance, once, whichever side deletes."""
    shop = CascShop.objects.create(root=CascRoot.objects.create(), name="s")
    watch(CascPlace, CascShop)
    with capture_triggers() as captured:
        if via == "child-queryset":
            CascShop.objects.filter(pk=shop.pk).delete()
        elif via == "child-instance":
            CascShop.objects.get(pk=shop.pk).delete()
        else:
            CascPlace.objects.filter(pk=shop.pk).delete()
    received = [
        row
        for call in captured.of(stage=stage, event="delete")
        if call.trigger.model is CascPlace
        for row in call.old
    ]
    assert [(type(row), row.pk) for row in received] == [(CascShop, shop.pk)]
    assert not CascPlace.objects.filter(pk=shop.pk).exists()


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("entry", ["queryset", "instance"])
def test_a_failing_child_trigger_leaves_every_table_unchanged(
    using: str, entry: str, stage: str
) -> None:
    """An exception from a leaf's trigger rolls back the whole tree, SET_* updates included."""
    root = build_tree()
    before = contents()

    def fail(*rows: Any) -> None:
        raise RuntimeError("refused")

    watch(*TREE, hooks={(CascLeaf, stage, "delete"): fail})
    with pytest.raises(RuntimeError, match="refused"):
        ENTRIES[entry](root)
    assert contents() == before


def test_before_update_changes_of_set_null_rows_are_written(using: str) -> None:
    """A before-update trigger's change to a SET_NULL row is stored with the null key."""
    root = build_tree()
    nullable = CascNullable.objects.get(root=root)

    def rename(new: list[CascNullable], old: list[CascNullable]) -> None:
        for row in new:
            row.name = f"was {old[0].root_id}"

    watch(CascNullable, hooks={(CascNullable, "before", "update"): rename})
    root_pk = root.pk
    root.delete()
    nullable.refresh_from_db()
    assert (nullable.root_id, nullable.name) == (None, f"was {root_pk}")


def test_generic_relation_manager_clear_fires_delete_triggers(using: str) -> None:
    """root.notes.remove() and clear() delete the notes, and their triggers see them."""
    root = build_tree()
    first, second = root.notes.order_by("pk")
    watch(CascNote)
    with capture_triggers() as captured:
        root.notes.remove(first)
        root.notes.clear()
    assert rows_of(captured, CascNote, "after", "delete") == [first.pk, second.pk]
    assert not root.notes.exists()


@pytest.mark.parametrize("through", ["auto", "explicit"])
def test_many_to_many_writes_fire_the_through_models_triggers(using: str, through: str) -> None:
    """add(), remove(), set() and clear() from either side fire the through model's triggers."""
    root = CascRoot.objects.create()
    if through == "auto":
        link, manager, targets, other_side = TagLink, root.tags, CascTag, "roots"
    else:
        link, manager, targets, other_side = CascLabelling, root.labels, CascLabel, "roots"
    a, b, c = (targets.objects.create(name=name) for name in "abc")
    seen: list[tuple[str, str, list[Any]]] = []
    name = "casctag_id" if through == "auto" else "label_id"

    def pairs(rows: list[Any]) -> list[tuple[Any, Any]]:
        return sorted((getattr(row, name), row.pk) for row in rows)

    class Links(Trigger[link]):  # type: ignore[valid-type]
        def on_after_create(self, new: list[Any]) -> None:
            # Django's add() inserts with ignore_conflicts: no keys come back on every backend.
            seen.append(("after", "create", sorted(getattr(row, name) for row in new)))

        def on_before_delete(self, old: list[Any]) -> None:
            seen.append(("before", "delete", pairs(old)))

    manager.add(a, b)
    created = sorted(link.objects.values_list(name, "pk"))
    manager.remove(a)
    manager.set([b, c])
    c_link = link.objects.get(**{name: c.pk}).pk
    getattr(c, other_side).clear()
    manager.clear()
    assert seen == [
        ("after", "create", [a.pk, b.pk]),
        ("before", "delete", [created[0]]),
        ("after", "create", [c.pk]),
        ("before", "delete", [(c.pk, c_link)]),
        ("before", "delete", [created[1]]),
    ]
    assert not link.objects.exists()


@pytest.fixture
def tree_size(settings: Any) -> Iterator[None]:
    """Handle rows in chunks of 100."""
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "CHUNK_SIZE": 100}
    yield


def _statements(using: str, run: Callable[[], Any]) -> list[str]:
    with CaptureQueriesContext(connections[using]) as queries:
        run()
    return [query["sql"].split()[0] for query in queries.captured_queries]


@pytest.mark.parametrize("entry", ["queryset", "instance"])
def test_without_triggers_the_delete_is_djangos_statement_for_statement(
    using: str, entry: str
) -> None:
    """No trigger anywhere: the same statements as Django's own delete of an identical tree."""
    ours, theirs = build_tree(), build_tree()
    expected = _statements(using, lambda: plain_delete(entry, theirs))
    assert _statements(using, lambda: ENTRIES[entry](ours)) == expected


def test_triggers_elsewhere_leave_the_delete_djangos(using: str) -> None:
    """Triggers on models no cascade reaches (and on other events) cost no statement."""
    ours, theirs = build_tree(), build_tree()
    expected = _statements(using, lambda: plain_delete("instance", theirs))

    class Unreached(Trigger[CascNode]):
        def on_after_delete(self, old: list[CascNode]) -> None:
            pass

    class CreateOnly(Trigger[CascLeaf]):
        def on_after_create(self, new: list[CascLeaf]) -> None:
            pass

    assert _statements(using, lambda: ENTRIES["instance"](ours)) == expected


def test_statements_per_chunk_stay_constant_as_the_tree_grows(using: str, tree_size: None) -> None:
    """With triggers, 100 → 200 → 1,000 leaves add the same statements per 100 leaves."""
    watch(*TREE)
    counts = {}
    for leaves in (50, 100, 500):
        root = build_tree(leaves)
        counts[leaves] = len(_statements(using, lambda root=root: root.delete()))
    step = counts[100] - counts[50]
    assert step <= 4
    assert counts[500] - counts[50] == 9 * step


def test_a_trigger_defined_later_is_seen_by_the_next_delete(using: str) -> None:
    """The reachability cache is dropped when a trigger is registered."""
    build_tree().delete()
    root = build_tree()
    leaves = expected_deletes(root)[CascLeaf]
    watch(CascLeaf)
    with capture_triggers() as captured:
        root.delete()
    assert rows_of(captured, CascLeaf, "after", "delete") == leaves


@pytest.fixture
def admin_client_on(using: str, client: Any) -> Any:
    """Return a test client logged in as a superuser of the test's database."""
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


@pytest.mark.parametrize("view", ["delete_view", "delete_selected"])
def test_admin_deletes_fire_the_trees_triggers(using: str, admin_client_on: Any, view: str) -> None:
    """The admin's delete view and "delete selected" action fire every cascaded row's triggers."""
    root, other = build_tree(), build_tree()
    expected = expected_deletes(root)
    watch(*TREE)
    with capture_triggers() as captured:
        if view == "delete_view":
            url = f"/admin/cascadesapp/cascroot/{root.pk}/delete/"
            response = admin_client_on.post(url, {"post": "yes"})
        else:
            data = {"action": "delete_selected", "_selected_action": [root.pk], "post": "yes"}
            response = admin_client_on.post("/admin/cascadesapp/cascroot/", data)
    assert response.status_code == 302
    for model, pks in expected.items():
        assert rows_of(captured, model, "after", "delete") == pks, model
    assert list(CascRoot.objects.filter(name="root").values_list("pk", flat=True)) == [other.pk]


def test_cascaded_rows_reach_their_triggers_in_chunks(using: str, settings: Any) -> None:
    """With CHUNK_SIZE 3, eight cascaded leaves arrive as 3, 3 and 2 rows per stage."""
    settings.BULK_TRIGGERS = {**settings.BULK_TRIGGERS, "CHUNK_SIZE": 3}
    root = build_tree(leaves=4)
    leaves = expected_deletes(root)[CascLeaf]
    watch(CascLeaf)
    with capture_triggers() as captured:
        root.delete()
    for stage in ("before", "after"):
        calls = captured.of(stage=stage, event="delete")
        assert [len(call.old or []) for call in calls] == [3, 3, 2]
    assert rows_of(captured, CascLeaf, "after", "delete") == leaves


def test_bypassing_every_reachable_trigger_leaves_the_delete_djangos(using: str) -> None:
    """Under bypass() of the only reachable trigger's model, the statements are Django's."""
    ours, theirs = build_tree(), build_tree()
    expected = _statements(using, lambda: plain_delete("queryset", theirs))
    watch(CascLeaf)
    with bypass(CascLeaf), capture_triggers() as captured:
        assert _statements(using, lambda: ENTRIES["queryset"](ours)) == expected
    assert captured.calls == []


def test_cascaded_rows_reach_the_commit_stage(
    using: str, django_capture_on_commit_callbacks: Any
) -> None:
    """on_commit_delete of a cascaded model gets its rows once the transaction commits."""
    root = build_tree()
    leaves = expected_deletes(root)[CascLeaf]
    committed: list[Any] = []

    class LeafCommitted(Trigger[CascLeaf]):
        def on_commit_delete(self, old: list[CascLeaf]) -> None:
            committed.extend(row.pk for row in old)

    with django_capture_on_commit_callbacks(using=using, execute=True):
        root.delete()
        assert committed == []
    assert committed == leaves


def test_a_new_model_class_drops_the_reachability_cache() -> None:
    """A model created later may add a relation to walk: the cached answers are dropped."""
    from django.test.utils import isolate_apps

    from bulk_triggers import deletion

    deletion.may_fire(CascRoot)
    assert CascRoot in deletion._reach
    with isolate_apps("tests.cascadesapp"):

        class CascLater(models.Model):
            root = models.ForeignKey(CascRoot, on_delete=models.CASCADE)

            class Meta:
                app_label = "cascadesapp"

    assert CascRoot not in deletion._reach


@pytest.mark.parametrize("entry", ["queryset", "instance"])
def test_context_names_the_delete_and_the_cascade(using: str, entry: str) -> None:
    """The deleted model's triggers see operation "delete"; cascaded models' see via "cascade"."""
    root = build_tree()
    seen: dict[type[models.Model], tuple[str, str | None]] = {}

    def recorder(model: type[models.Model]) -> Callable[..., None]:
        def run(self: Any, old: list[Any]) -> None:
            seen[model] = (self.context.operation, self.context.via)

        return run

    for model in (CascRoot, CascBranch):
        types.new_class(
            f"Context{model.__name__}",
            (Trigger[model],),  # type: ignore[valid-type]
            {},
            lambda ns, model=model: ns.update(on_before_delete=recorder(model)),
        )
    ENTRIES[entry](root)
    assert seen == {CascRoot: ("delete", None), CascBranch: ("delete", "cascade")}
