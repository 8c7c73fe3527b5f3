"""How the test settings choose databases (tests/databases.py); no database is needed."""

from __future__ import annotations

import importlib
import re
import socket
from collections.abc import Iterator

import pytest
from django.db import connections

from tests import databases


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """Yield a localhost port that is bound but not listening, so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """Yield a localhost port where something accepts TCP connections."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _point(monkeypatch: pytest.MonkeyPatch, vendor: str, port: int) -> None:
    """Make the settings look for ``vendor`` on ``port`` of localhost."""
    monkeypatch.setitem(databases._SERVERS[vendor], "HOST", "127.0.0.1")
    monkeypatch.setitem(databases._SERVERS[vendor], "PORT", str(port))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", set()),
        ("   ", set()),
        ("postgresql", {"postgresql"}),
        ("postgresql,mysql", {"postgresql", "mysql"}),
        (" mysql , postgresql ,", {"postgresql", "mysql"}),
        ("sqlite,sqlite", {"sqlite"}),
    ],
)
def test_required_parses_comma_separated_vendors(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: set[str]
) -> None:
    """BULK_TRIGGERS_REQUIRE_DBS is split on commas, trimmed, and empty entries ignored."""
    monkeypatch.setenv("BULK_TRIGGERS_REQUIRE_DBS", raw)
    assert databases.required() == expected


def test_required_is_empty_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without BULK_TRIGGERS_REQUIRE_DBS no database is mandatory."""
    monkeypatch.delenv("BULK_TRIGGERS_REQUIRE_DBS", raising=False)
    assert databases.required() == set()


@pytest.mark.parametrize("raw", ["postgres", "mysql,oracle", "PostgreSQL"])
def test_required_rejects_unknown_names(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    """A misspelt vendor is an error naming it, not a silently optional database."""
    monkeypatch.setenv("BULK_TRIGGERS_REQUIRE_DBS", raw)
    with pytest.raises(RuntimeError, match="unknown databases") as excinfo:
        databases.required()
    assert "sqlite" in str(excinfo.value)  # the message lists the valid names


@pytest.mark.parametrize(("missing", "present"), [("postgresql", "mysql"), ("mysql", "postgresql")])
def test_unreachable_optional_database_is_skipped_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
    refusing_port: int,
    listening_port: int,
    missing: str,
    present: str,
) -> None:
    """An unreachable, optional server is left out of DATABASES and its reason recorded."""
    monkeypatch.setenv("BULK_TRIGGERS_REQUIRE_DBS", present)
    _point(monkeypatch, missing, refusing_port)
    _point(monkeypatch, present, listening_port)

    configured, skipped = databases.configure()

    assert set(configured) == {"default", present}
    assert configured["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert configured[present]["PORT"] == str(listening_port)
    assert list(skipped) == [missing]
    assert f"127.0.0.1:{refusing_port}" in skipped[missing]


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_unreachable_required_database_is_an_error(
    monkeypatch: pytest.MonkeyPatch, refusing_port: int, listening_port: int, vendor: str
) -> None:
    """A required server that does not answer stops the run, naming it and its address."""
    monkeypatch.setenv("BULK_TRIGGERS_REQUIRE_DBS", "postgresql,mysql")
    for name in ("postgresql", "mysql"):
        _point(monkeypatch, name, refusing_port if name == vendor else listening_port)

    with pytest.raises(RuntimeError, match=f"{vendor} is required") as excinfo:
        databases.configure()
    assert f"127.0.0.1:{refusing_port}" in str(excinfo.value)


def test_requiring_sqlite_needs_no_server(
    monkeypatch: pytest.MonkeyPatch, refusing_port: int
) -> None:
    """Requiring sqlite while both servers are down is fine: SQLite is the default."""
    monkeypatch.setenv("BULK_TRIGGERS_REQUIRE_DBS", "sqlite")
    for name in ("postgresql", "mysql"):
        _point(monkeypatch, name, refusing_port)

    configured, skipped = databases.configure()

    assert list(configured) == ["default"]
    assert set(skipped) == {"postgresql", "mysql"}


@pytest.mark.parametrize(
    ("vendor", "alias"), [("sqlite", "default"), ("postgresql", "postgresql"), ("mysql", "mysql")]
)
def test_alias_for_maps_vendor_to_connection(vendor: str, alias: str) -> None:
    """SQLite is served by the default connection, every server by one named after it."""
    assert databases.alias_for(vendor) == alias


@pytest.mark.parametrize("setting", ["_probe", "", None], ids=["set", "empty", "unset"])
def test_db_suffix_names_every_test_database(
    monkeypatch: pytest.MonkeyPatch, refusing_port: int, setting: str | None
) -> None:
    """Every test database ends in BULK_TRIGGERS_DB_SUFFIX, or unset, in the checkout's own."""
    if setting is None:
        monkeypatch.delenv("BULK_TRIGGERS_DB_SUFFIX", raising=False)
    else:
        monkeypatch.setenv("BULK_TRIGGERS_DB_SUFFIX", setting)
    try:
        importlib.reload(databases)
        monkeypatch.setenv("BULK_TRIGGERS_REQUIRE_DBS", "")
        for name in ("postgresql", "mysql"):
            _point(monkeypatch, name, refusing_port)
        configured, _skipped = databases.configure()
        test_names = [
            configured["default"]["NAME"],
            configured["default"]["TEST"]["NAME"],
            databases._SERVERS["postgresql"]["TEST"]["NAME"],
            databases._SERVERS["mysql"]["TEST"]["NAME"],
        ]
    finally:
        monkeypatch.undo()
        importlib.reload(databases)
    suffix = databases.checkout_suffix() if setting is None else setting
    assert re.fullmatch(r"_[0-9a-f]{8}", databases.checkout_suffix())
    assert test_names == [
        f"bulk_triggers{suffix}.sqlite3",
        f"file:bt_memory{suffix}?mode=memory&cache=shared",
        f"test_bulk_triggers{suffix}",
        f"test_bulk_triggers{suffix}",
    ]


def test_server_name_is_what_django_reports(using: str) -> None:
    """The header's server name is the product and version Django's connection reports."""
    connection = connections[using]
    vendor = connection.vendor
    if vendor == "mysql":
        version = ".".join(map(str, connection.mysql_version))
    elif vendor == "postgresql":
        version = "{}.{}".format(*divmod(connection.pg_version, 10000))
    else:
        version = connection.Database.sqlite_version
    expected = f"{connection.display_name} {version}"
    assert databases.server_name(vendor, connection.settings_dict) == expected
