"""A service's settings as its process reads them from its environment."""

import importlib


def service_settings(service: str, environment: dict[str, str], monkeypatch):
    """Only `environment` is set, of the service's variables; refused settings raise."""
    settings = importlib.import_module(f"{service}.config").Settings
    for field in settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return settings()
