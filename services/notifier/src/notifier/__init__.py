"""Notifier service."""
