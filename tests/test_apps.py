"""App configs: the default one imports every installed app's ``triggers`` module."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.apps import apps

from bulk_triggers import TriggerDefinitionError
from bulk_triggers.apps import BulkTriggersConfig, SimpleBulkTriggersConfig
from bulk_triggers.registry import registry

MakeApp = Callable[..., str]


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeApp]:
    """Return a factory of throwaway app packages, removed from sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def factory(triggers: str | None = None) -> str:
        name = f"bt_throwaway_{uuid.uuid4().hex[:12]}"
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        if triggers is not None:
            (package / "triggers.py").write_text(textwrap.dedent(triggers))
        importlib.invalidate_caches()
        made.append(name)
        return name

    yield factory
    for module in list(sys.modules):
        if module.split(".")[0] in made:
            del sys.modules[module]


@contextmanager
def installed(*names: str) -> Iterator[None]:
    """Run the block with exactly ``names`` as INSTALLED_APPS (their ready() methods run)."""
    try:
        apps.set_installed_apps(names)
    except BaseException:
        apps.unset_installed_apps()
        raise
    try:
        yield
    finally:
        apps.unset_installed_apps()


RECORDING_TRIGGERS = """
    from bulk_triggers import Trigger
    from tests.testapp.models import Log

    class Discovered(Trigger[Log]):
        def on_after_create(self, new):
            pass
"""


def test_default_config_autodiscovers() -> None:
    """Installing "bulk_triggers" selects the autodiscovering BulkTriggersConfig."""
    config = apps.get_app_config("bulk_triggers")
    assert type(config) is BulkTriggersConfig
    assert issubclass(BulkTriggersConfig, SimpleBulkTriggersConfig)


def test_autodiscovery_imports_triggers_module(make_app: MakeApp) -> None:
    """ready() imports ``<app>.triggers``, so the triggers it defines are registered."""
    app = make_app(RECORDING_TRIGGERS)
    with installed("bulk_triggers", app):
        assert f"{app}.triggers" in sys.modules
        discovered = [t for t in registry if t.__module__ == f"{app}.triggers"]
        assert [t.__name__ for t in discovered] == ["Discovered"]


def test_autodiscovery_works_whatever_the_app_order(make_app: MakeApp) -> None:
    """An app listed before bulk_triggers still has its triggers module imported."""
    app = make_app(RECORDING_TRIGGERS)
    with installed(app, "bulk_triggers"):
        assert f"{app}.triggers" in sys.modules


def test_simple_config_does_not_autodiscover(make_app: MakeApp) -> None:
    """SimpleBulkTriggersConfig leaves trigger modules to be imported by hand."""
    app = make_app(RECORDING_TRIGGERS)
    with installed("bulk_triggers.apps.SimpleBulkTriggersConfig", app):
        assert f"{app}.triggers" not in sys.modules
        assert not [t for t in registry if t.__module__ == f"{app}.triggers"]


def test_app_without_triggers_module_is_fine(make_app: MakeApp) -> None:
    """An installed app without a triggers module is skipped silently."""
    app = make_app(None)
    with installed("bulk_triggers", app):
        assert apps.is_installed(app)
        assert f"{app}.triggers" not in sys.modules


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        ("raise RuntimeError('triggers module exploded')", RuntimeError, "exploded"),
        ("import bt_no_such_dependency_xyz", ModuleNotFoundError, "bt_no_such_dependency_xyz"),
        ("from django.db.models import NoSuchThing", ImportError, "NoSuchThing"),
        ("def broken(:\n    pass", SyntaxError, None),
        (
            """
            from bulk_triggers import Trigger
            from tests.testapp.models import Log

            class Typo(Trigger[Log]):
                def on_after_craete(self, new):
                    pass
            """,
            TriggerDefinitionError,
            "on_after_create",
        ),
    ],
    ids=["runtime-error", "missing-dependency", "bad-import", "syntax-error", "bad-trigger"],
)
def test_broken_triggers_module_fails_loudly(
    make_app: MakeApp, source: str, error: type[BaseException], message: str | None
) -> None:
    """A triggers module that fails to import raises its own error when the apps load."""
    app = make_app(source)
    with pytest.raises(error, match=message), installed("bulk_triggers", app):
        pass  # pragma: no cover - loading the apps must fail
    assert apps.ready
    assert not apps.is_installed(app)
