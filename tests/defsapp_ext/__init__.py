"""An extension app that replaces one of defsapp_base's triggers and switches another off."""
