"""A small shop that shows bulk_triggers at work: ``python manage.py demo``."""
