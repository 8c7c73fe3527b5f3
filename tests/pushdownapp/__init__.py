"""Models for the condition pushdown tests (app label ``pushdownapp``)."""
