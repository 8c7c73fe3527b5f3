"""A small app for the debug-toolbar panel's tests and screenshot: an order writing notes."""
