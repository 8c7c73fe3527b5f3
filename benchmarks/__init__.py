"""The bulk_triggers benchmark: plain Django against bulk_triggers, run as ``python -m benchmarks``.

Everything runs in one process with its own settings (``benchmarks.settings``) and models
(``benchmarks.app``), so that the numbers do not depend on the test suite or on a project.
See ``python -m benchmarks --help`` and ``docs/benchmark.md``.
"""
