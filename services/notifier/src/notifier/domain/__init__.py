"""Notifier rules: no I/O."""
