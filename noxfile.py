"""The Django/Python test matrix: ``nox`` runs the suite once per supported Django series.

Each session installs the project with its ``test`` extra and one pinned Django series into
its own virtual environment under ``.nox/``, then runs pytest there. ``make test`` calls this
after the run in ``.venv``; ``.ci/run`` calls it with ``CI`` set, which makes a missing
interpreter an error instead of a skip (nox's own default).

Environments are reused between runs, and dependencies are installed again only when
``pyproject.toml`` or the session's Django pin changes. The database variables
(``BULK_TRIGGERS_REQUIRE_DBS`` and the ``BULK_TRIGGERS_PG_*`` / ``BULK_TRIGGERS_MYSQL_*``
connection settings) reach pytest unchanged, because nox passes the whole outer environment
to the commands it runs. ``BULK_TRIGGERS_DB_SUFFIX`` (by default the checkout's own suffix,
``checkout_suffix()`` in ``tests/databases.py``) gets the session's Django series appended, so
sessions never share a test database and ``nox -j 2`` is safe.

With ``BULK_TRIGGERS_PROGRESS`` naming a file (``make test`` sets it), each session appends
its start, and pytest its counts at every tenth of the tests and its end
(``tests/progress.py``), so that progress shows while ``--parallel`` holds the output back.

Arguments after ``--`` go to pytest: ``nox -- -k bulk_update -x``. Without uv (or behind a
proxy only pip is configured for), ``nox -db virtualenv`` uses pip instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import runpy
import shutil
import subprocess
from pathlib import Path

import nox

# Each Django series on a Python it supports; 5.2 on 3.10 also proves the Python floor.
MATRIX = [("3.10", "5.2"), ("3.12", "6.0"), ("3.13", "6.1")]

ROOT = Path(__file__).parent

nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"
# uv makes a fresh environment in seconds instead of a minute; without it, plain virtualenv.
nox.options.default_venv_backend = "uv|virtualenv"
# Standalone Python builds cannot be downloaded here; an absent interpreter is skipped
# locally and fails the run in CI.
nox.options.download_python = "never"


def _expose_pyenv_interpreters() -> None:
    """Make pyenv's shims answer for every matrix Python, not only the globally active ones.

    A machine with pyenv usually has one active version; the shim of any other
    (``python3.12``) then refuses to run, and nox would report that Python as missing.
    Adding the newest installed patch release of each matrix Python to ``PYENV_VERSION``
    fixes that for this nox process only, keeping the active versions first.
    """
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return
    listing = subprocess.run(
        [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    active = subprocess.run([pyenv, "version-name"], capture_output=True, text=True, check=False)
    versions = active.stdout.strip().split(":") if active.returncode == 0 else []
    for python, _django in MATRIX:
        patches = [v for v in listing if re.fullmatch(rf"{re.escape(python)}\.\d+", v)]
        if patches:
            versions.append(max(patches, key=lambda v: int(v.rsplit(".", 1)[1])))
    if versions:
        os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys(v for v in versions if v))


_expose_pyenv_interpreters()


def _checkout_suffix() -> str:
    """Return the suffix ``tests/databases.py`` gives this checkout's test databases."""
    # Run from its path: nox may load this file with the checkout not on sys.path.
    suffix: str = runpy.run_path(str(ROOT / "tests" / "databases.py"))["checkout_suffix"]()
    return suffix


def _requirements(django: str) -> list[str]:
    return ["-e", ".[test]", f"Django~={django}.0"]


def _stamp(session: nox.Session, django: str) -> tuple[Path, str]:
    """Return the environment's install stamp and the fingerprint it holds when up to date."""
    fingerprint = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + " ".join(_requirements(django)).encode()
    ).hexdigest()
    return Path(session.virtualenv.location) / ".bulk_triggers-installed", fingerprint


def _stale(session: nox.Session, django: str) -> bool:
    stamp, fingerprint = _stamp(session, django)
    return not (stamp.exists() and stamp.read_text() == fingerprint)


def _install(session: nox.Session, django: str) -> None:
    """Install the project and ``django`` unless this environment already has exactly that."""
    if not _stale(session, django):
        session.log("dependencies are up to date (delete .nox/ to force a reinstall)")
        return
    session.install(*_requirements(django))
    stamp, fingerprint = _stamp(session, django)
    stamp.write_text(fingerprint)


def _progress(session: nox.Session, text: str) -> None:
    """Append ``text`` to ``make test``'s progress file, when it set one (tests/progress.py)."""
    path = os.environ.get("BULK_TRIGGERS_PROGRESS")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(f"{session.name}: {text}\n")


@nox.session(allow_parallel=True)
@nox.parametrize(
    ("python", "django"), MATRIX, ids=[f"django{django}" for _python, django in MATRIX]
)
def tests(session: nox.Session, django: str) -> None:
    """Run the suite on one Django series against every reachable database."""
    _progress(session, "started; installing" if _stale(session, django) else "started")
    _install(session, django)
    base = os.environ.get("BULK_TRIGGERS_DB_SUFFIX", _checkout_suffix())
    suffix = base + "_dj" + django.replace(".", "")
    env = {"BULK_TRIGGERS_DB_SUFFIX": suffix, "BULK_TRIGGERS_PROGRESS_LABEL": session.name}
    session.run("python", "-m", "pytest", *session.posargs, env=env)
