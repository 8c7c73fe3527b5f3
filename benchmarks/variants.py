"""The variants measured: which model, trigger configuration and settings each runs with.

A variant is what one row of a table compares: plain Django, bulk_triggers with a trigger
configuration (``configs.py``), the hand-written floor, or a peer library's model with the
same empty hooks. Each operation runs the variants ``OPERATION_VARIANTS`` gives it, so that
a run measures only what some comparison or target needs; ``MAX_N`` caps the variants that
are only needed up to the target's N (plain Django's ``bulk_update`` alone takes minutes at
100,000 rows, and the floor and the no-trigger model cost as much).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.app import models as app_models
from benchmarks.operations import Operation


@dataclass(frozen=True)
class Variant:
    """One way of running an operation.

    Attributes:
        name: The key in results and on the command line.
        label: How tables and the chart name it.
        model: The model's name in ``benchmarks.app.models``.
        config: The trigger configuration registered on ``TriggerItem`` (``configs.CONFIGS``).
        settings: ``BULK_TRIGGERS`` entries set while it runs.
        floor: Whether it runs the operation's hand-written floor instead of its user code.
        peer: The peer library's distribution name, for a peer's variant.
    """

    name: str
    label: str
    model: str
    config: str = "none"
    settings: dict[str, Any] = field(default_factory=dict)
    floor: bool = False
    peer: str | None = None

    def model_class(self) -> type[Any]:
        """Return the model, or raise ``LookupError`` saying why a peer's is missing."""
        model = getattr(app_models, self.model, None)
        if model is None:
            reason = app_models.PEER_PROBLEMS.get(self.peer or "", "no such model")
            raise LookupError(f"{self.peer or self.model}: {reason}")
        return model  # type: ignore[no-any-return]


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("django", "plain Django", "PlainItem", floor=False),
        Variant("none", "bulk_triggers, no trigger", "TriggerItem"),
        Variant(
            "fast",
            "bulk_triggers, no trigger, FAST_BULK_UPDATE",
            "TriggerItem",
            settings={"FAST_BULK_UPDATE": True},
        ),
        Variant("pair", "bulk_triggers, before+after", "TriggerItem", config="pair"),
        Variant("after", "bulk_triggers, after only", "TriggerItem", config="after"),
        Variant(
            "pair_no_pushdown",
            "bulk_triggers, before+after, PUSHDOWN off",
            "TriggerItem",
            config="pair",
            settings={"PUSHDOWN": False},
        ),
        Variant(
            "after_no_pushdown",
            "bulk_triggers, after only, PUSHDOWN off",
            "TriggerItem",
            config="after",
            settings={"PUSHDOWN": False},
        ),
        Variant(
            "pair_from_load",
            "bulk_triggers, before+after, SAVE_OLD_FROM_LOAD",
            "TriggerItem",
            config="pair",
            settings={"SAVE_OLD_FROM_LOAD": True},
        ),
        Variant("ten", "bulk_triggers, ten triggers", "TriggerItem", config="ten"),
        Variant("floor", "hand-written floor", "PlainItem", floor=True),
        Variant(
            "lifecycle",
            "django-lifecycle, before+after",
            "LifecycleItem",
            peer="django-lifecycle",
        ),
        Variant(
            "bulk_hooks",
            "django-bulk-hooks, before+after",
            "BulkHooksItem",
            peer="django-bulk-hooks",
        ),
    )
}
VARIANT_LABELS = {name: variant.label for name, variant in VARIANTS.items()}

_COMMON = ("django", "none", "pair", "ten", "floor")
OPERATION_VARIANTS: dict[str, tuple[str, ...]] = {
    "bulk_create": _COMMON,
    "bulk_update": ("django", "none", "fast", "pair", "ten", "floor"),
    "update_value": (*_COMMON, "after", "pair_no_pushdown"),
    "update_pushdown": (*_COMMON, "pair_no_pushdown"),
    "update_f": (*_COMMON, "after"),
    "delete": (*_COMMON, "after", "pair_no_pushdown", "after_no_pushdown", "bulk_hooks"),
    "save_update": (*_COMMON, "pair_from_load", "lifecycle"),
    "save_create": _COMMON,
}
"""The variants each operation runs; an operation not named here runs ``DEFAULT_VARIANTS``."""
DEFAULT_VARIANTS = _COMMON

MAX_N: dict[tuple[str, str], int] = {
    ("bulk_update", "none"): 10_000,
    ("bulk_update", "floor"): 10_000,
}
"""The largest N of (operation, variant) pairs that cost minutes at 100,000 rows and that no
target reads there: Django's ``CASE WHEN`` write, run by the no-trigger model and the floor
as by plain Django (which keeps its row at every N, as the baseline of the ratios)."""


def variants_of(operation: Operation, n: int, wanted: Iterable[str] | None = None) -> list[Variant]:
    """Return the variants ``operation`` runs at ``n`` rows, in table order.

    ``wanted`` (``--variants``) narrows them; plain Django always stays, as every ratio's
    baseline. The floor runs only where the operation has one.
    """
    names = OPERATION_VARIANTS.get(operation.name, DEFAULT_VARIANTS)
    keep = None if wanted is None else {"django", *wanted}
    return [
        VARIANTS[name]
        for name in names
        if (keep is None or name in keep)
        and (name != "floor" or operation.floor is not None)
        and n <= MAX_N.get((operation.name, name), n)
    ]


def limited_rows(operations: Iterable[Operation], sizes: Iterable[int]) -> list[str]:
    """Describe which (operation, variant) rows ``MAX_N`` leaves out of this run's sizes."""
    sizes = list(sizes)
    lines = []
    for operation in operations:
        for (name, variant), limit in MAX_N.items():
            if name == operation.name and any(n > limit for n in sizes):
                lines.append(f"{operation.label}, {VARIANTS[variant].label}: N ≤ {limit:,} only")
    return lines
