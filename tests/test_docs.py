"""Every Python example of the README and the docs runs, and does what the text says."""

from __future__ import annotations

import io
import re
import textwrap
import unittest
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext, isolate_apps, override_settings

from bulk_triggers import TriggerManager, bypass, conf
from bulk_triggers.registry import registry
from bulk_triggers.testing import capture_triggers, isolated_registry, only_triggers
from shop.models import Account, AuditEntry, Order, OrderLine

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_BLOCK = re.compile(r"^(?P<indent> *)```python\n(?P<code>.*?)^(?P=indent)```", re.S | re.M)
_DEFINES_MODEL = re.compile(r"^class \w+\((TriggerModelMixin|models\.Model)\):", re.M)
# An example that asserts what it shows checks itself.
_ASSERTS = re.compile(r"^\s*assert ", re.M)


def examples(page: Path | None = None) -> list[tuple[str, str]]:
    """Return ("page:line", dedented code) for each Python block of the README and docs."""
    found = []
    for path in [page] if page else PAGES:
        text = path.read_text()
        name = path.relative_to(ROOT).as_posix()
        found += [
            (f"{name}:{text.count(chr(10), 0, m.start()) + 1}", textwrap.dedent(m.group("code")))
            for m in _BLOCK.finditer(text)
        ]
    return found


def check_ship_order(namespace: dict[str, Any]) -> None:
    """ShipOrder stamps shipped_at when an update ships an order."""
    order = Order.objects.create(account=Account.objects.create(name="Ada"), status="paid")
    with only_triggers(namespace["ShipOrder"]):
        Order.objects.filter(pk=order.pk).update(status="shipped")
    order.refresh_from_db()
    assert order.shipped_at is not None


def check_ship_order_audit(namespace: dict[str, Any]) -> None:
    """The first example writes one audit entry per shipped order."""
    order = Order.objects.create(account=Account.objects.create(name="Ada"), status="paid")
    with only_triggers(namespace["ShipOrder"]):
        Order.objects.filter(pk=order.pk).update(status="shipped")
    assert AuditEntry.objects.filter(object_pk=str(order.pk), action="update").count() == 1


def check_refuse_empty_lines(namespace: dict[str, Any]) -> None:
    """The ValidationError example refuses the batch and leaves the lines as they were."""
    order = Order.objects.create(account=Account.objects.create(name="Bo"))
    line = OrderLine.objects.create(order=order, sku="tea", quantity=2, unit_price=1)
    with only_triggers(namespace["RefuseEmptyLines"]), pytest.raises(ValidationError):
        OrderLine.objects.filter(pk=line.pk).update(quantity=0)
    line.refresh_from_db()
    assert line.quantity == 2


def check_generic_base(namespace: dict[str, Any]) -> None:
    """The generic base is not registered; its concrete subclass is, for Account."""
    assert namespace["Audit"] not in registry
    assert namespace["AccountAudit"] in registry
    assert namespace["AccountAudit"].model is Account


def check_condition(namespace: dict[str, Any]) -> None:
    """The composed conditions render as written."""
    assert repr(namespace["condition"]) == "HasChanged('status') & ~IsEqual('balance', 0)"
    assert repr(namespace["big_move"]) == (
        "IsIn('status', ('paid', 'shipped')) & IsGreaterThan('total', 100)"
    )
    assert repr(namespace["touched"]) == "AnyChange(exclude=('shipped_at',), exclude_auto=True)"


def check_path_condition(namespace: dict[str, Any]) -> None:
    """Moving an order to an overdrawn account passes; a move between active ones does not."""
    active = Account.objects.create(name="Bo")
    with bypass():  # The shop's own trigger derives the status from the balance.
        overdrawn = Account.objects.create(name="Cy", status="overdrawn")
    moved = Order.objects.create(account=active)
    kept = Order.objects.create(account=active)
    trigger = namespace["NotifyOverdrawnOrders"]
    with only_triggers(trigger), capture_triggers() as captured:
        Order.objects.filter(pk=moved.pk).update(account=overdrawn)
        Order.objects.filter(pk=kept.pk).update(account=Account.objects.create(name="Di"))
    assert [[row.pk for row in call.new] for call in captured.of(trigger)] == [[moved.pk]]


def check_preload(namespace: dict[str, Any]) -> None:
    """The trigger body costs no query per row: 1 order or 3, the update costs the same."""
    counts = []
    with only_triggers(namespace["AuditShipments"]), redirect_stdout(io.StringIO()):
        for size in (1, 3):
            orders = [Order.objects.create(account=Account.objects.create(name="E"))]
            orders += [Order.objects.create(account=orders[0].account) for _ in range(size - 1)]
            rows = Order.objects.filter(pk__in=[order.pk for order in orders])
            with CaptureQueriesContext(connection) as queries:
                rows.update(status="shipped")
            counts.append(len(queries))
    assert counts[0] == counts[1]


def check_custom_condition(namespace: dict[str, Any]) -> None:
    """The custom condition checks rows and shows its constructor's arguments."""
    condition = namespace["TotalBetween"](10, 20)
    assert repr(condition) == "TotalBetween(10, 20)"
    assert condition.check(Order(total=15), None) is True
    assert condition.check(Order(total=25), None) is False


def check_settings(namespace: dict[str, Any]) -> None:
    """The documented settings are accepted with the documented defaults."""
    with override_settings(BULK_TRIGGERS=namespace["BULK_TRIGGERS"], DEBUG=False):
        assert (conf.get("MAX_DEPTH"), conf.get("CHUNK_SIZE")) == (16, 2000)
        assert conf.flag("PROTECT_OLD") is False
        assert conf.flag("FAST_BULK_UPDATE") is False


def check_model(namespace: dict[str, Any]) -> None:
    """A model with the mixin gets TriggerManager as its default manager."""
    assert isinstance(namespace["Order"]._default_manager, TriggerManager)


def check_bypass(namespace: dict[str, Any]) -> None:
    """The decorated function runs."""
    assert namespace["import_legacy_rows"]() is None


def check_abstract_trigger(namespace: dict[str, Any]) -> None:
    """The abstract model's trigger fires for a concrete subclass defined afterwards."""
    stamped, bump = namespace["Stamped"], namespace["BumpRevision"]
    page = type("Page", (stamped,), {"__module__": "shop.models"})
    assert bump.model is stamped
    assert registry.for_model(page, "update") == (bump,)
    row = page(revision=1)
    bump().on_before_update([row], [page(revision=1)])
    assert row.revision == 2


def check_replacement(namespace: dict[str, Any]) -> None:
    """The replacement runs in ShipOrder's place; NotifyShipping is switched off."""
    from shop import triggers

    replacement = namespace["ShipOrderOnMonday"]
    assert triggers.ShipOrder not in registry and triggers.NotifyShipping not in registry
    assert replacement in registry
    assert registry.for_model(Order, "update")[1] is replacement


def check_admin_mixin(namespace: dict[str, Any]) -> None:
    """The admin example is a working ModelAdmin whose views come from the mixin."""
    from django.contrib.admin import AdminSite

    from bulk_triggers.contrib.admin import TriggerErrorsAdminMixin

    model_admin = namespace["OrderLineAdmin"](OrderLine, AdminSite())
    assert model_admin.check() == []
    assert type(model_admin).changeform_view is TriggerErrorsAdminMixin.changeform_view


def check_guards(namespace: dict[str, Any]) -> None:
    """Each guard of the example refuses what the text says, with the documented message."""
    from bulk_triggers import RowErrors

    guards = [namespace[name] for name in ("KeepShippedOrders", "FixedAccount", "OrderStatus")]
    first, second = Account.objects.create(name="A"), Account.objects.create(name="B")
    order = Order.objects.create(account=first)
    with only_triggers(*guards):
        with pytest.raises(RowErrors) as moved:
            Order.objects.filter(pk=order.pk).update(account=second)
        with pytest.raises(RowErrors) as skipped:
            Order.objects.filter(pk=order.pk).update(status="shipped")
        Order.objects.filter(pk=order.pk).update(status="placed")
        with pytest.raises(RowErrors):
            Order.objects.create(account=first, status="placed")
    with bypass():
        Order.objects.filter(pk=order.pk).update(status="shipped")
    with only_triggers(*guards), pytest.raises(RowErrors) as deleted:
        Order.objects.filter(pk=order.pk).delete()
    label = f"shop.Order {order.pk}"
    assert moved.value.message_dict == {
        "account": [
            f"{label}: account is read-only; it cannot change from {first.pk} to {second.pk}."
        ]
    }
    assert skipped.value.message_dict == {
        "status": [f"{label}: status cannot change from 'draft' to 'shipped'."]
    }
    assert deleted.value.message_dict == {"__all__": [f"{label}: delete is not allowed."]}
    with only_triggers(namespace["CleanAccounts"]), pytest.raises(RowErrors) as unclean:
        Account.objects.bulk_create([Account(name="ok"), Account(name="", status="closed")])
    assert set(unclean.value.message_dict) == {"name", "status"}
    assert [row.index for row in unclean.value.rows] == [1]


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "class BumpRevision(Trigger[Stamped])": check_abstract_trigger,
    "class ShipOrderOnMonday(ShipOrder)": check_replacement,
    "class ShipOrder(Trigger[Order])": check_ship_order,
    'AuditEntry(model="shop.Order"': check_ship_order_audit,
    "class RefuseEmptyLines": check_refuse_empty_lines,
    "class AccountAudit(Audit[Account])": check_generic_base,
    'condition = HasChanged("status") & ~IsEqual': check_condition,
    "class NotifyOverdrawnOrders": check_path_condition,
    "class AuditShipments": check_preload,
    "class TotalBetween": check_custom_condition,
    "BULK_TRIGGERS = {": check_settings,
    "class Order(TriggerModelMixin)": check_model,
    "def import_legacy_rows": check_bypass,
    "class OrderLineAdmin(TriggerErrorsAdminMixin": check_admin_mixin,
    "class KeepShippedOrders(Protect[Order])": check_guards,
}


def _run_test_cases(namespace: dict[str, Any]) -> list[type[unittest.TestCase]]:
    """Run the unittest TestCase classes the example defines; fail on any failure."""
    cases = [
        value
        for value in namespace.values()
        if isinstance(value, type)
        and issubclass(value, unittest.TestCase)
        and value.__module__ == namespace["__name__"]
    ]
    for case in cases:
        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
        assert result.testsRun and result.wasSuccessful(), result.failures + result.errors
    return cases


@pytest.mark.django_db
@pytest.mark.parametrize(("where", "code"), examples(), ids=[w for w, _ in examples()])
def test_example_runs(where: str, code: str) -> None:
    """The example executes; its check (or the tests it defines, or its asserts) passes."""
    namespace: dict[str, Any] = {"__name__": "shop.docs_example"}
    with isolated_registry():
        if _DEFINES_MODEL.search(code):
            with isolate_apps("shop"):
                namespace["__name__"] = "shop.models"
                exec(compile(code, where, "exec"), namespace)
                checks = [check for marker, check in CHECKS.items() if marker in code]
                for check in checks:
                    check(namespace)
                return
        exec(compile(code, where, "exec"), namespace)
        checks = [check for marker, check in CHECKS.items() if marker in code]
        tests = [value for name, value in namespace.items() if name.startswith("test_")]
        for check in checks:
            check(namespace)
        for test in tests:
            test(*[None] * test.__code__.co_argcount)
        cases = _run_test_cases(namespace)
    assert checks or tests or cases or _ASSERTS.search(code) or "INSTALLED_APPS" in code, (
        f"{where}: an example with nothing that checks it"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_example_is_found(page: Path) -> None:
    """The extractor finds each Python block of each page, indented ones included."""
    assert len(examples(page)) == len(re.findall(r"^ *```python$", page.read_text(), re.M))


def test_every_check_is_used() -> None:
    """Each per-example check is attached to at least one example."""
    code = [code for _where, code in examples()]
    assert [marker for marker in CHECKS if not any(marker in c for c in code)] == []
