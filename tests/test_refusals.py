"""Django's refusals come first, whatever the names of the arguments refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import FieldDoesNotExist

from tests.recorder import record
from tests.testapp.models import Item


@pytest.mark.parametrize("name", ["method", "queryset"])
def test_update_of_an_unknown_field_named_like_a_helper_parameter_is_djangos_refusal(
    using: str, name: str
) -> None:
    """update(method=…) on a model without that field raises Django's error naming it."""
    Item.objects.create(name="a", amount=1)
    rec = record(Item, events=["update"])
    with pytest.raises(FieldDoesNotExist, match=name):
        Item.objects.update(**{name: 1})
    assert rec.calls == []
    assert list(Item.objects.values_list("name", "amount")) == [("a", 1)]
