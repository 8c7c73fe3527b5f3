"""Models wired by ``TriggerManager`` alone, without the mixin (app label ``wiringapp``)."""
