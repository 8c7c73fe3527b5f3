"""Models of the task-trigger and operation-context tests (issue 15)."""
