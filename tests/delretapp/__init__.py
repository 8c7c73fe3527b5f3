"""Models for the one-statement ``DELETE … RETURNING`` path of ``QuerySet.delete()``."""
