"""An app whose autodiscovered triggers another app (defsapp_ext) replaces or switches off."""
