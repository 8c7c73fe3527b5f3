"""The ``Trigger`` base class and the metaclass that validates and registers subclasses."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args, get_origin

from django.db import DEFAULT_DB_ALIAS, models

from bulk_triggers import errors as _errors
from bulk_triggers.conditions import Condition
from bulk_triggers.definitions import (
    EVENT_METHODS,
    EVENTS,
    STAGES,
    check_attributes,
    check_event_methods,
    check_model,
    check_unbound,
)
from bulk_triggers.exceptions import TriggerDefinitionError
from bulk_triggers.operation import OperationContext
from bulk_triggers.registry import registry
from bulk_triggers.runtime import check_run_time_attributes

__all__ = ["EVENTS", "EVENT_METHODS", "STAGES", "Trigger", "TriggerMeta", "unregister"]

M = TypeVar("M", bound=models.Model)

_definition_counter = itertools.count()


class TriggerMeta(type):
    """Validate a trigger class where it is defined, then register it.

    A class whose model is still a ``TypeVar`` (a generic base such as
    ``class Audit(Trigger[M])``) is validated but not registered.
    """

    model: type[models.Model] | None
    condition: Condition | None
    order: int
    replaces: TriggerMeta | None
    select_related: tuple[str, ...]
    prefetch_related: tuple[Any, ...]
    max_reentry: int | None
    task: bool
    task_options: dict[str, Any]
    _definition_index: int
    _generic: bool
    _methods: dict[tuple[str, str], Callable[..., Any]]

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> TriggerMeta:
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        if not any(isinstance(base, TriggerMeta) for base in bases):
            return cls  # Trigger itself.
        cls._definition_index = next(_definition_counter)
        cls.model, cls._generic = _model_of(cls)
        check_event_methods(cls, _own_and_mixed_in(cls, namespace))
        check_attributes(cls)
        check_run_time_attributes(cls)
        cls._methods = {
            EVENT_METHODS[attr]: getattr(cls, attr)
            for attr in EVENT_METHODS
            if callable(getattr(cls, attr, None))
        }
        if cls.model is None:
            check_unbound(cls, namespace)
        else:
            check_model(cls, cls.model)
            replaced = _replaced(cls, namespace)
            if replaced is not None:
                # A drop-in: among triggers of equal order it runs where the replaced one did.
                cls._definition_index = replaced._definition_index
                registry.unregister(replaced)
            registry.register(cls)
        return cls

    @property
    def label(cls) -> str:
        """Return the dotted path that names this trigger in errors, logs and listings."""
        return f"{cls.__module__}.{cls.__qualname__}"


class Trigger(Generic[M], metaclass=TriggerMeta):
    """Subclass with a model as type argument to define a trigger: ``Trigger[Order]``.

    Define only the event methods you need (``on_before_update(self, new, old)`` …).
    A trigger is plain Python: instantiate it and call its methods in a unit test.

    Attributes:
        model: The model class taken from the type argument (it may be abstract).
        condition: Optional entry criteria; a method receives only the rows that pass.
        order: Lower runs first; ties keep definition order.
        replaces: Optional trigger class, of the same model, that this one unregisters.
        select_related: Forward relations loaded for the rows each method receives.
        prefetch_related: Relations (or ``Prefetch`` objects) prefetched for those rows.
        using: The database alias of the operation being dispatched.
        max_reentry: How many times one row may enter each method of this trigger in
            one operation chain; rows past it are left out. ``None``: no limit.
        task: Run the commit-stage methods in a Tasks worker (``bulk_triggers.tasks``).
        task_options: ``queue_name``, ``priority`` and ``backend`` of those tasks.
        context: The :class:`~bulk_triggers.operation.OperationContext` being dispatched
            (``None`` when a test calls the method directly).
        task_key: In a task, its idempotency key; ``None`` elsewhere.
    """

    model: ClassVar[type[Any] | None] = None
    condition: ClassVar[Condition | None] = None
    order: ClassVar[int] = 0
    replaces: ClassVar[TriggerMeta | None] = None
    select_related: ClassVar[tuple[str, ...]] = ()
    prefetch_related: ClassVar[tuple[Any, ...]] = ()
    max_reentry: ClassVar[int | None] = None
    task: ClassVar[bool] = False
    task_options: ClassVar[dict[str, Any]] = {}
    context: OperationContext | None = None
    task_key: str | None = None

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using

    def add_error(
        self, row: M, message: str, *, field: str | None = None, code: str | None = None
    ) -> None:
        """Refuse ``row``, one of the rows this method received, with ``message``.

        The stage's other triggers still run; then the operation writes nothing and raises
        :class:`~bulk_triggers.RowErrors`. Outside an operation (a unit test calling the
        method) the error is only recorded on :attr:`errors`.

        Raises:
            ValueError: ``row`` is not one of the rows received, or ``field`` is not a
                field of the model.
        """
        _errors.add_error(self, row, message, field, code)

    @property
    def errors(self) -> list[_errors.TriggerError]:
        """Return the errors this instance added with :meth:`add_error`, in order."""
        return _errors.errors_of(self)

    if TYPE_CHECKING:

        def on_before_create(self, new: list[M]) -> None: ...
        def on_after_create(self, new: list[M]) -> None: ...
        def on_commit_create(self, new: list[M]) -> None: ...
        def on_before_update(self, new: list[M], old: list[M]) -> None: ...
        def on_after_update(self, new: list[M], old: list[M]) -> None: ...
        def on_commit_update(self, new: list[M], old: list[M]) -> None: ...
        def on_before_delete(self, old: list[M]) -> None: ...
        def on_after_delete(self, old: list[M]) -> None: ...
        def on_commit_delete(self, old: list[M]) -> None: ...


def unregister(*triggers: TriggerMeta) -> None:
    """Switch off ``triggers`` for the whole process, wherever they were defined.

    Meant for an app that disables another app's trigger from its own ``triggers``
    module (import the trigger, then unregister it). Subclasses of an unregistered
    trigger stay registered; unregistering one twice is a no-op.

    Raises:
        TypeError: An argument is not a Trigger subclass bound to a model.
    """
    for trigger in triggers:
        if not isinstance(trigger, TriggerMeta) or trigger.model is None:
            raise TypeError(
                f"unregister() takes Trigger subclasses bound to a model, got {trigger!r}."
            )
    for trigger in triggers:
        registry.unregister(trigger)


def _model_of(cls: TriggerMeta) -> tuple[type[models.Model] | None, bool]:
    """Find the model named by the nearest type argument, or inherit the parent's.

    Return it with whether the class is a generic base: its type argument, or an
    ancestor trigger's, is a ``TypeVar`` and no model is bound yet.
    """
    for base in vars(cls).get("__orig_bases__", ()):
        origin = get_origin(base)
        if not (isinstance(origin, TriggerMeta)):
            continue
        for arg in get_args(base):
            if isinstance(arg, TypeVar):
                return None, True
            if isinstance(arg, type) and issubclass(arg, models.Model):
                return arg, False
            raise TriggerDefinitionError(
                f"Trigger {cls.__module__}.{cls.__qualname__}: the type argument of "
                f"{origin.__name__}[...] must be a Django model class, got {arg!r}."
            )
    parents = [base for base in cls.__mro__[1:] if isinstance(base, TriggerMeta)]
    model = next((base.model for base in parents if base.model is not None), None)
    generic = any(getattr(base, "_generic", False) for base in parents)
    return model, model is None and generic


def _own_and_mixed_in(cls: TriggerMeta, namespace: dict[str, Any]) -> dict[str, Any]:
    """Return the class body plus attributes from plain mixins, which nothing checked yet.

    Attributes inherited from other triggers were checked where those were defined.
    """
    found: dict[str, Any] = {}
    for base in reversed(cls.__mro__[1:]):
        if not isinstance(base, TriggerMeta) and base not in (object, Generic):
            found.update(vars(base))
    found.update(namespace)
    return found


def _replaced(cls: TriggerMeta, namespace: dict[str, Any]) -> TriggerMeta | None:
    """Return the trigger named by the class body's ``replaces``, checked."""
    replaced = namespace.get("replaces")
    if replaced is None:
        return None
    if not isinstance(replaced, TriggerMeta) or replaced.model is None:
        raise TriggerDefinitionError(
            f"Trigger {cls.label}.replaces must be a Trigger subclass bound to a model, "
            f"got {replaced!r}."
        )
    if replaced.model is not cls.model:
        raise TriggerDefinitionError(
            f"Trigger {cls.label} is declared on {_model_label(cls.model)} but replaces "
            f"{replaced.label}, declared on {_model_label(replaced.model)}; a replacement "
            "handles the same model. To switch a trigger off, call "
            f"bulk_triggers.unregister({replaced.__name__})."
        )
    return replaced


def _model_label(model: type[models.Model] | None) -> str:
    return model._meta.label if model is not None else "no model"
