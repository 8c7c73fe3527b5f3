"""A django-debug-toolbar panel listing the trigger calls of each request.

Add ``"bulk_triggers.contrib.debug_toolbar.panel.TriggersPanel"`` to
``DEBUG_TOOLBAR_PANELS``; nothing else of bulk_triggers imports this package.
"""
