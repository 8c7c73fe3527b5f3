"""Types a user of bulk_triggers gets, checked by mypy in CI (``make lint``); never run.

An ``assert_type`` that no longer holds, or a ``type: ignore`` that is no longer needed
(mypy's ``warn_unused_ignores``, part of ``--strict``), fails the check.
"""

from __future__ import annotations

from typing_extensions import assert_type

from bulk_triggers import Trigger
from shop.models import Account, Order
from shop.triggers import AccountAudit, ShipOrder


def check_trigger_types(trigger: ShipOrder, orders: list[Order]) -> None:
    """Trigger[Order] makes the rows' type known to the event methods."""
    assert_type(trigger.on_before_update(orders, orders), None)


def check_generic_base(audit: AccountAudit, accounts: list[Account], orders: list[Order]) -> None:
    """A generic base's type argument flows into its concrete subclass's methods."""
    assert_type(audit.on_after_update(accounts, accounts), None)
    audit.on_after_update(orders, orders)  # type: ignore[arg-type]


class WrongRows(Trigger[Order]):
    """Declaring rows of another model is an error the type checker reports."""

    def on_after_update(  # type: ignore[override]
        self, new: list[Account], old: list[Account]
    ) -> None:
        pass


def check_wrong_call(trigger: ShipOrder, accounts: list[Account]) -> None:
    """Passing rows of another model to a trigger is reported too."""
    trigger.on_before_update(accounts, accounts)  # type: ignore[arg-type]
