"""Definition rules: unbound triggers, abstract models, replacing and unregistering."""

from __future__ import annotations

import types
from typing import Any, TypeVar

import pytest
from django.db import models

from bulk_triggers import HasChanged, Trigger, TriggerDefinitionError, unregister
from bulk_triggers.registry import registry
from tests.defsapp.models import DefsStampA, DefsStamped
from tests.testapp.models import Customer, Item

M = TypeVar("M", bound=models.Model)


def _update(self: Any, new: list[Any], old: list[Any]) -> None:
    pass


def define(name: str, bases: tuple[type, ...], **namespace: Any) -> Any:
    """Define the class ``name`` with ``bases`` and ``namespace``."""
    namespace.setdefault("__module__", __name__)
    return types.new_class(name, bases, {}, lambda ns: ns.update(namespace))


def test_importable_from_the_package() -> None:
    """TriggerDefinitionError and unregister are public names of bulk_triggers."""
    import bulk_triggers

    assert "TriggerDefinitionError" in bulk_triggers.__all__
    assert "unregister" in bulk_triggers.__all__


def test_event_methods_without_a_model_are_refused() -> None:
    """class Audit(Trigger) with an event method fails at definition, naming both fixes."""
    with pytest.raises(
        TriggerDefinitionError, match=r"Audit defines event methods but names no model"
    ) as info:
        define("Audit", (Trigger,), on_after_update=_update)
    assert "Trigger[MyModel]" in str(info.value) and "TypeVar" in str(info.value)


def test_unbound_helper_base_without_event_methods_is_allowed() -> None:
    """A plain base with helpers only (no event method) is allowed and not registered."""
    base = define("Helpers", (Trigger,), describe=lambda self: "x")
    concrete = define("Concrete", (base, Trigger[Item]), on_after_update=_update)
    assert base not in registry and base.model is None
    assert registry.for_model(Item, "update") == (concrete,)


@pytest.mark.parametrize("depth", [1, 2])
def test_subclasses_of_a_generic_base_that_bind_no_model_are_allowed(depth: int) -> None:
    """Subclasses of a generic base, bound to no model yet, may add event methods."""
    base: Any = define("Audit", (Trigger[M],), on_after_update=_update)
    for level in range(depth):
        base = define(f"Level{level}", (base,), on_after_create=lambda self, new: None)
    assert base not in registry and base.model is None
    concrete = define("ItemAudit", (base, Trigger[Item]))
    assert registry.for_model(Item, "create") == (concrete,)


def test_abstract_model_trigger_is_registered_with_the_abstract_model() -> None:
    """Trigger[AbstractModel] registers; its model is the abstract model."""
    trigger = define("Stamped", (Trigger[DefsStamped],), on_after_update=_update)
    assert trigger in registry
    assert trigger.model is DefsStamped
    assert registry.for_model(DefsStampA, "update") == (trigger,)


def test_abstract_model_condition_fields_are_checked() -> None:
    """A condition on a field the abstract model lacks fails at definition, naming it."""
    define(
        "Good", (Trigger[DefsStamped],), condition=HasChanged("touched"), on_after_update=_update
    )
    with pytest.raises(TriggerDefinitionError, match=r"Bad.*'size'.*defsapp.DefsStamped"):
        define(
            "Bad", (Trigger[DefsStamped],), condition=HasChanged("size"), on_after_update=_update
        )


def test_replaces_takes_the_replaced_triggers_place() -> None:
    """A trigger with replaces unregisters the other and runs where it ran among ties."""
    first = define("First", (Trigger[Item],), on_after_update=_update)
    second = define("Second", (Trigger[Item],), on_after_update=_update)
    replacement = define("Replacement", (first,), replaces=first)
    assert first not in registry
    assert registry.for_model(Item, "update") == (replacement, second)


def test_replacement_need_not_subclass_and_its_subclasses_do_not_replace_again() -> None:
    """replaces works without subclassing; a subclass inheriting replaces only adds itself."""
    original = define("Original", (Trigger[Item],), on_after_update=_update)
    replacement = define(
        "Replacement", (Trigger[Item],), replaces=original, on_after_update=_update
    )
    child = define("Child", (replacement,))
    assert registry.for_model(Item, "update") == (replacement, child)


@pytest.mark.parametrize(
    ("replaces", "message"),
    [
        (Item, "must be a Trigger subclass bound to a model"),
        ("Original", "must be a Trigger subclass bound to a model"),
        ("customer", "declared on testapp.Item but replaces"),
        ("generic", "must be a Trigger subclass bound to a model"),
    ],
    ids=["model", "string", "other_model", "generic"],
)
def test_bad_replaces_is_refused(replaces: Any, message: str) -> None:
    """replaces must name a bound trigger of the same model; the original stays registered."""
    on_customer = define("OnCustomer", (Trigger[Customer],), on_after_update=_update)
    generic = define("Generic", (Trigger[M],), on_after_update=_update)
    replaces = {"customer": on_customer, "generic": generic}.get(replaces, replaces)
    with pytest.raises(TriggerDefinitionError, match=message):
        define("Replacement", (Trigger[Item],), replaces=replaces, on_after_update=_update)
    assert on_customer in registry
    assert registry.for_model(Item, "update") == ()


def test_replaces_on_a_generic_base_is_refused() -> None:
    """A generic base cannot replace: it is bound to no model."""
    original = define("Original", (Trigger[Item],), on_after_update=_update)
    with pytest.raises(TriggerDefinitionError, match="names no model"):
        define("Generic", (Trigger[M],), replaces=original, on_after_update=_update)
    assert original in registry


def test_unregister_switches_triggers_off_and_is_idempotent() -> None:
    """unregister() removes the named triggers; their subclasses stay; twice is a no-op."""
    base = define("Base", (Trigger[Item],), on_after_update=_update)
    child = define("Child", (base,))
    other = define("Other", (Trigger[Item],), on_after_update=_update)
    unregister(base, other)
    unregister(base)
    assert registry.for_model(Item, "update") == (child,)


@pytest.mark.parametrize("argument", [Item, "Base", None], ids=repr)
def test_unregister_refuses_what_is_not_a_bound_trigger(argument: Any) -> None:
    """unregister() of a model, a name or None is a TypeError, and unregisters nothing."""
    base = define("Base", (Trigger[Item],), on_after_update=_update)
    with pytest.raises(TypeError, match="unregister"):
        unregister(base, argument)
    assert base in registry


def test_unregister_refuses_a_generic_base() -> None:
    """A generic base is not registered: unregistering it is a TypeError, not a silent no-op."""
    generic = define("Generic", (Trigger[M],), on_after_update=_update)
    with pytest.raises(TypeError, match="bound to a model"):
        unregister(generic)
