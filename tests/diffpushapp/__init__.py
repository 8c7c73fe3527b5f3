"""Models for the differential pushdown tests (app label ``diffpushapp``)."""
