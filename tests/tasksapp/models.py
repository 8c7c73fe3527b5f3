"""Models of the task-trigger and operation-context tests."""

from __future__ import annotations

from django.db import models

from bulk_triggers import TriggerModelMixin


class TaskItem(TriggerModelMixin):
    """A row that task triggers and context tests write, with fields of several types."""

    name = models.CharField(max_length=50)
    value = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    changed_at = models.DateTimeField(null=True)
    data = models.JSONField(default=dict)
    parent = models.ForeignKey("self", null=True, on_delete=models.SET_NULL)

    class Meta:
        app_label = "tasksapp"


class TaskRecord(models.Model):
    """What a commit-stage method (in the writer or in a worker) saw for one row."""

    kind = models.CharField(max_length=20)
    item_id = models.IntegerField()
    old_value = models.IntegerField(null=True)
    new_value = models.IntegerField(null=True)
    key = models.CharField(max_length=200)
    operation_id = models.CharField(max_length=40)
    actor = models.IntegerField(null=True)
    worker = models.CharField(max_length=40)

    class Meta:
        app_label = "tasksapp"
