"""The benchmark's models: one shape, twice (plain Django and ``TriggerModelMixin``)."""
