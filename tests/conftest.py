"""Fixtures shared by the whole suite: the database matrix and a self-cleaning registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from bulk_triggers.testing import isolated_registry
from tests.databases import VENDORS, alias_for, server_name
from tests.routers import routed_to

# Progress lines for make test's parallel nox sessions; inert unless asked for.
pytest_plugins = ["tests.progress"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say, in one visible line per database, where the suite runs and what it skips."""
    from django.conf import settings as django_settings

    lines = []
    for vendor in VENDORS:
        reason = django_settings.SKIPPED_DATABASES.get(vendor)
        if reason is None:
            server = server_name(vendor, django_settings.DATABASES[alias_for(vendor)])
            lines.append(f"bulk_triggers: {vendor}{f' ({server})' if server else ''}: tested")
        else:
            lines.append(
                f"bulk_triggers: {vendor}: NOT TESTED, {reason}; "
                "set BULK_TRIGGERS_REQUIRE_DBS to make this an error"
            )
    return lines


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each database-parametrized test access to exactly its own database."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "vendor" not in callspec.params:
            continue
        existing = item.get_closest_marker("django_db")
        kwargs = dict(existing.kwargs) if existing else {}
        kwargs["databases"] = [alias_for(callspec.params["vendor"])]
        item.add_marker(pytest.mark.django_db(**kwargs), append=False)


@pytest.fixture(autouse=True)
def _isolated_registry() -> Iterator[None]:
    """Forget every trigger a test defines, so none leaks into the next test."""
    with isolated_registry():
        yield


@pytest.fixture(params=VENDORS)
def vendor(request: pytest.FixtureRequest) -> str:
    """Parametrize a test over SQLite, PostgreSQL and MariaDB/MySQL."""
    name: str = request.param
    if alias_for(name) not in settings.DATABASES:
        pytest.skip(f"{name}: {settings.SKIPPED_DATABASES[name]}")
    return name


@pytest.fixture
def using(vendor: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """Route the test's queries to its database and return that database's alias."""
    alias = alias_for(vendor)
    request.getfixturevalue("_django_db_helper")
    with routed_to(alias):
        yield alias
