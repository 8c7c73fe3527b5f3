"""The registry: which triggers run for a model and an event, in which order, and its cache."""

from __future__ import annotations

import types
from typing import Any

import pytest
from django.db import models
from django.test.utils import isolate_apps

from bulk_triggers import Trigger, TriggerModelMixin
from bulk_triggers.registry import registry
from tests.defsapp.models import (
    DefsKiosk,
    DefsKioskProxy,
    DefsPlace,
    DefsShop,
    DefsShopProxy,
    DefsStampA,
    DefsStampAProxy,
    DefsStampB,
    DefsStamped,
    DefsStampedPlace,
)
from tests.testapp.models import Customer, Item, ItemProxy, ItemProxyProxy, Place, Restaurant


def _update(self: Any, new: list[Any], old: list[Any]) -> None:
    pass


def _create(self: Any, new: list[Any]) -> None:
    pass


def define(name: str, model: type[models.Model], order: int = 0, **methods: Any) -> Any:
    """Define a trigger on ``model``; an update method unless other methods are given."""
    namespace = {
        "__module__": __name__,
        "order": order,
        **(methods or {"on_after_update": _update}),
    }
    return types.new_class(name, (Trigger[model],), {}, lambda ns: ns.update(namespace))


def test_for_model_includes_proxy_lineage() -> None:
    """A proxy sees its own triggers and those of the models it proxies, never its children's."""
    on_item = define("OnItem", Item)
    on_proxy = define("OnProxy", ItemProxy)
    on_proxy_proxy = define("OnProxyProxy", ItemProxyProxy)
    assert registry.for_model(Item, "update") == (on_item,)
    assert registry.for_model(ItemProxy, "update") == (on_item, on_proxy)
    assert registry.for_model(ItemProxyProxy, "update") == (on_item, on_proxy, on_proxy_proxy)


def test_lineage_sorted_by_order_across_models() -> None:
    """Triggers from the whole proxy lineage are sorted together by order, then definition."""
    on_item = define("OnItem", Item, order=5)
    on_proxy = define("OnProxy", ItemProxy, order=-1)
    on_item_early = define("OnItemEarly", Item, order=-1)
    assert registry.for_model(ItemProxy, "update") == (on_proxy, on_item_early, on_item)


def test_multi_table_child_gets_its_parents_triggers() -> None:
    """A multi-table child also gets its parent's triggers; the parent never its child's."""
    on_restaurant = define("OnRestaurant", Restaurant)
    on_place = define("OnPlace", Place)
    assert registry.for_model(Restaurant, "update") == (on_place, on_restaurant)
    assert registry.for_model(Place, "update") == (on_place,)


def test_declared_for_leaves_out_what_mti_parents_give() -> None:
    """declared_for() keeps a child's own and abstract-base triggers, not its parents'."""
    on_place = define("OnPlace", DefsPlace)
    on_stamped = define("OnStamped", DefsStamped)
    on_mixin = define("OnMixin", TriggerModelMixin)
    on_child = define("OnChild", DefsStampedPlace)
    assert registry.for_model(DefsStampedPlace, "update") == (
        on_place,
        on_mixin,
        on_stamped,
        on_child,
    )
    assert registry.declared_for(DefsStampedPlace, "update") == (on_stamped, on_child)
    assert registry.declared_for(DefsPlace, "update") == (on_place, on_mixin)
    assert registry.declared_for(DefsKioskProxy, "update") == ()
    on_kiosk_proxy = define("OnKioskProxy", DefsKioskProxy)
    assert registry.declared_for(DefsKioskProxy, "update") == (on_kiosk_proxy,)
    assert registry.declared_for(DefsKiosk, "update") == ()


def test_three_deep_chain_and_proxies_rank_parent_first() -> None:
    """Equal orders run root, middle, leaf; a proxy's triggers rank with its concrete model."""
    on_kiosk_proxy = define("OnKioskProxy", DefsKioskProxy)
    on_kiosk = define("OnKiosk", DefsKiosk)
    on_shop_proxy = define("OnShopProxy", DefsShopProxy)
    on_shop = define("OnShop", DefsShop)
    on_place = define("OnPlace", DefsPlace)
    assert registry.for_model(DefsKioskProxy, "update") == (
        on_place,
        on_shop,
        on_kiosk_proxy,
        on_kiosk,
    )
    assert registry.for_model(DefsShopProxy, "update") == (on_place, on_shop_proxy, on_shop)
    assert registry.for_model(DefsKiosk, "update") == (on_place, on_shop, on_kiosk)
    first = define("First", DefsKiosk, order=-1)
    assert registry.for_model(DefsKiosk, "update") == (first, on_place, on_shop, on_kiosk)


def test_abstract_trigger_applies_to_every_concrete_subclass_and_proxy() -> None:
    """A trigger on an abstract model applies to its subclasses, their proxies, and no other."""
    on_stamped = define("OnStamped", DefsStamped)
    for model in (DefsStampA, DefsStampB, DefsStampAProxy, DefsStampedPlace):
        assert registry.for_model(model, "update") == (on_stamped,)
    assert registry.for_model(DefsPlace, "update") == ()
    assert on_stamped.model is DefsStamped


def test_abstract_trigger_applies_to_a_subclass_defined_later() -> None:
    """A concrete subclass defined after the trigger, and after a cached lookup, gets it."""
    on_stamped = define("OnStamped", DefsStamped)
    assert registry.for_model(DefsStampA, "update") == (on_stamped,)
    with isolate_apps("tests.defsapp"):

        class Later(DefsStamped):
            class Meta:
                app_label = "defsapp"

        assert registry.for_model(Later, "update") == (on_stamped,)


@pytest.mark.parametrize("stage", ["before", "after", "commit"])
def test_for_model_filters_by_event(stage: str) -> None:
    """A trigger is listed only for the events it has a method for, in any stage."""
    trigger = define("Creating", Item, **{f"on_{stage}_create": _create})
    assert registry.for_model(Item, "create") == (trigger,)
    assert registry.for_model(Item, "update") == ()
    assert registry.for_model(Item, "delete") == ()


def test_other_models_unaffected() -> None:
    """A trigger on one model is not listed for another."""
    define("OnCustomer", Customer)
    assert registry.for_model(Item, "update") == ()


def test_cache_invalidated_on_register() -> None:
    """A lookup made before a trigger is defined does not hide it afterwards."""
    assert registry.for_model(Item, "update") == ()
    assert registry.for_model(ItemProxy, "update") == ()
    trigger = define("Late", Item)
    assert registry.for_model(Item, "update") == (trigger,)
    assert registry.for_model(ItemProxy, "update") == (trigger,)


def test_cache_invalidated_on_unregister() -> None:
    """Unregistering a trigger removes it from lookups already cached."""
    first = define("First", Item)
    second = define("Second", Item)
    assert registry.for_model(Item, "update") == (first, second)
    registry.unregister(first)
    assert first not in registry
    assert registry.for_model(Item, "update") == (second,)
    registry.register(first)
    assert registry.for_model(Item, "update") == (first, second)


def test_register_twice_and_unregister_missing_are_no_ops() -> None:
    """Registering a trigger twice lists it once; unregistering an absent one does nothing."""
    trigger = define("Once", Item)
    registry.register(trigger)
    assert registry.for_model(Item, "update") == (trigger,)
    registry.unregister(trigger)
    registry.unregister(trigger)
    assert registry.for_model(Item, "update") == ()


def test_isolated_forgets_triggers_defined_inside() -> None:
    """Triggers defined inside isolated() are gone when the block ends, cache included."""
    outer = define("Outer", Item)
    with registry.isolated():
        inner = define("Inner", Item)
        assert registry.for_model(Item, "update") == (outer, inner)
    assert inner not in registry
    assert registry.for_model(Item, "update") == (outer,)


def test_isolated_restores_unregistered_triggers() -> None:
    """A trigger unregistered inside isolated() is registered again when the block ends."""
    outer = define("Outer", Item)
    with registry.isolated():
        registry.unregister(outer)
        assert registry.for_model(Item, "update") == ()
    assert outer in registry
    assert registry.for_model(Item, "update") == (outer,)


def test_isolated_restores_after_an_exception() -> None:
    """isolated() restores the registry even when its block raises."""
    outer = define("Outer", Item)
    with pytest.raises(ZeroDivisionError), registry.isolated():
        define("Inner", Item)
        registry.unregister(outer)
        1 / 0  # noqa: B018
    assert registry.for_model(Item, "update") == (outer,)


def test_isolated_nests() -> None:
    """Nested isolated() blocks each restore what was registered when they began."""
    first = define("First", Item)
    with registry.isolated():
        second = define("Second", Item)
        with registry.isolated():
            define("Third", Item)
            assert len(registry.for_model(Item, "update")) == 3
        assert registry.for_model(Item, "update") == (first, second)
    assert registry.for_model(Item, "update") == (first,)


def test_iteration_is_in_run_order() -> None:
    """Iterating the registry yields triggers by order, then definition order."""
    late = define("Late", Customer, order=1)
    early = define("Early", Item, order=-1)
    middle = define("Middle", Item)
    assert [t for t in registry if t in (late, early, middle)] == [early, middle, late]
