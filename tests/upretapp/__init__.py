"""Models for the one-statement update's tests (app label ``upretapp``)."""
