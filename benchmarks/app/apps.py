from __future__ import annotations

from django.apps import AppConfig


class BenchmarkAppConfig(AppConfig):
    name = "benchmarks.app"
    label = "bench"
    default_auto_field = "django.db.models.BigAutoField"
