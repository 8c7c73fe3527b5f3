"""Models for the differential tests of update()'s fast paths (app label ``diffrowsapp``)."""
