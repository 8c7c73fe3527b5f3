"""``add_error()`` through the async twins: the same refusal, raised in the caller's task."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from bulk_triggers import RowErrors, bypass
from tests.errorsapp.models import ErrTicket
from tests.routers import routed_to
from tests.test_errors import TITLES, refusing

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def routed(using: str) -> AsyncIterator[str]:
    """Route the test's queries to its database; close the async ORM's connections after."""
    with routed_to(using):
        yield using
    await sync_to_async(connections.close_all)()


async def _asave(rows: list[ErrTicket]) -> Any:
    rows[1].points = 9
    return await rows[1].asave()


async def _abulk_update(rows: list[ErrTicket]) -> Any:
    return await ErrTicket.objects.abulk_update(rows[::-1], ["points"])


TWINS: dict[str, tuple[str, Callable[[list[ErrTicket]], Awaitable[Any]], list[int]]] = {
    "acreate": ("create", lambda rows: ErrTicket.objects.acreate(title="bad"), [0]),
    "abulk_create": (
        "create",
        lambda rows: ErrTicket.objects.abulk_create([ErrTicket(title=t) for t in TITLES]),
        [1, 3],
    ),
    "asave": ("update", _asave, [0]),
    "abulk_update": ("update", _abulk_update, [0, 2]),
    "aupdate": ("update", lambda rows: ErrTicket.objects.aupdate(points=9), [1, 3]),
    "adelete": ("delete", lambda rows: ErrTicket.objects.all().adelete(), [1, 3]),
}


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("operation", TWINS)
async def test_async_twin_raises_row_errors(routed: str, operation: str, stage: str) -> None:
    """The async twin raises the same RowErrors and writes nothing."""
    event, call, indexes = TWINS[operation]

    def setup() -> list[ErrTicket]:
        with bypass():
            ErrTicket.objects.bulk_create([ErrTicket(title=title) for title in TITLES])
        refusing(event, stage, [])
        return list(ErrTicket.objects.order_by("pk"))

    rows = await sync_to_async(setup)()
    before = [(r.title, r.points) async for r in ErrTicket.objects.order_by("pk")]
    with pytest.raises(RowErrors) as info:
        await call(rows)
    assert [row.index for row in info.value.rows] == indexes
    assert [(r.title, r.points) async for r in ErrTicket.objects.order_by("pk")] == before
