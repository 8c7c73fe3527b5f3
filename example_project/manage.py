#!/usr/bin/env python
"""Django's command-line utility for the bulk_triggers example project."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    """Run a management command with the example project's settings."""
    # Let a fresh checkout run without installing the package: the repository root holds
    # bulk_triggers/ next to this directory.
    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
