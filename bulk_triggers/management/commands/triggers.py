"""``manage.py triggers``: list the registered triggers in the order they run."""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models

from bulk_triggers.registry import registry
from bulk_triggers.trigger import EVENTS, STAGES


class Command(BaseCommand):
    help = "List each model's triggers per event and stage, in execution order."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "targets",
            nargs="*",
            metavar="app_label[.Model]",
            help="Only these apps or models (default: every model with triggers).",
        )
        parser.add_argument(
            "--format",
            choices=["text", "json"],
            default="text",
            help="text (default): one block per model, for reading; json: a list of "
            "{model, events: {event: {stage: [{trigger, declared_on, order, condition}]}}}.",
        )

    def handle(self, *args: str, **options: Any) -> None:
        chosen = self._models(options["targets"])
        listing = [_describe(model) for model in chosen]
        if options["format"] == "json":
            self.stdout.write(json.dumps(listing, indent=2))
        elif not listing:
            self.stdout.write(f"No triggers registered{_for(options['targets'])}.")
        else:
            self.stdout.write("\n\n".join(_render(entry) for entry in listing))

    def _models(self, targets: list[str]) -> list[type[models.Model]]:
        # Every model triggers apply to: the children of a model with triggers and each
        # concrete subclass of an abstract one are listed too.
        with_triggers = sorted(registry.listed(apps.get_models()), key=lambda m: m._meta.label)
        if not targets:
            return with_triggers
        chosen: list[type[models.Model]] = []
        for target in targets:
            app_label, _, model_name = target.partition(".")
            try:
                config = apps.get_app_config(app_label)
                candidates = (
                    [config.get_model(model_name)]
                    if model_name
                    else list(config.get_models(include_auto_created=False))
                )
            except LookupError as exc:
                raise CommandError(str(exc)) from exc
            chosen.extend(m for m in candidates if m in with_triggers and m not in chosen)
        return chosen


def _for(targets: list[str]) -> str:
    """Return " for app 'auth'" (or a model, or several), naming what was asked for."""
    named = [f"{'model' if '.' in target else 'app'} {target!r}" for target in targets]
    return f" for {' or '.join(named)}" if named else ""


def _describe(model: type[models.Model]) -> dict[str, Any]:
    events: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for event in EVENTS:
        for trigger in registry.for_model(model, event):
            for stage in STAGES:
                if (stage, event) not in trigger._methods:
                    continue
                events.setdefault(event, {}).setdefault(stage, []).append(
                    {
                        "trigger": trigger.label,
                        "declared_on": trigger.model._meta.label if trigger.model else None,
                        "order": trigger.order,
                        "condition": None if trigger.condition is None else repr(trigger.condition),
                    }
                )
    return {"model": model._meta.label, "events": events}


def _render(entry: dict[str, Any]) -> str:
    lines = [entry["model"]]
    for event, stages in entry["events"].items():
        for stage, triggers in stages.items():
            lines.append(f"  {stage} {event}:")
            for number, item in enumerate(triggers, start=1):
                condition = f"  when {item['condition']}" if item["condition"] else ""
                inherited = (
                    f"  (from {item['declared_on']})"
                    if item["declared_on"] != entry["model"]
                    else ""
                )
                lines.append(
                    f"    {number}. {item['trigger']}  order={item['order']}{condition}{inherited}"
                )
    return "\n".join(lines)
