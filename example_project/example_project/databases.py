"""Turn ``DATABASE_URL`` into a ``DATABASES`` entry, with the standard library only."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

ENGINES = {
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "pgsql": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
    "mariadb": "django.db.backends.mysql",
    "sqlite": "django.db.backends.sqlite3",
}


def database_from_url(url: str, base_dir: Path) -> dict[str, Any]:
    """Return the ``DATABASES["default"]`` settings that ``url`` describes.

    Understands ``postgres://user:pass@host:port/name``, ``mysql://…`` (or
    ``mariadb://…``) and ``sqlite:///relative.sqlite3`` / ``sqlite:////absolute/path``.
    Query parameters become ``OPTIONS`` (``?sslmode=require``). User names and passwords
    may be percent-encoded.

    Raises:
        ValueError: The scheme is not one of the above, or the URL names no database.
    """
    parts = urlsplit(url)
    engine = ENGINES.get(parts.scheme)
    if engine is None:
        raise ValueError(
            f"DATABASE_URL has the scheme {parts.scheme!r}; use one of {sorted(ENGINES)}, "
            "for example postgres://postgres@127.0.0.1:5432/bulk_triggers_demo."
        )
    name = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if not name:
        raise ValueError(f"DATABASE_URL {url!r} names no database: add /<name> after the host.")
    options: dict[str, Any] = dict(parse_qsl(parts.query))
    if engine.endswith("sqlite3"):
        path = Path(name)
        return {"ENGINE": engine, "NAME": path if path.is_absolute() else base_dir / path}
    if engine.endswith("mysql"):
        options.setdefault("charset", "utf8mb4")
    config: dict[str, Any] = {
        "ENGINE": engine,
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }
    if options:
        config["OPTIONS"] = options
    return config
