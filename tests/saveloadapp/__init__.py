"""Models for the SAVE_OLD_FROM_LOAD tests (app label ``saveloadapp``)."""
