"""Models for the fast bulk write's exactness tests (app label ``perfapp``)."""
