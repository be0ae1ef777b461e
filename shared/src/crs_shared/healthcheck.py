"""The service image's health check (deploy/docker/Dockerfile): `python -m crs_shared.healthcheck`
asks the service named by $SERVICE for /healthz on its port, which is `<SERVICE>_PORT` when set and
its settings' default otherwise, so the port is written in one place. Exits non-zero when the
service does not answer 200 within two seconds."""

import importlib
import os
import urllib.request


def main() -> None:
    service = os.environ["SERVICE"]
    settings_class = importlib.import_module(f"{service}.config").Settings
    port = os.environ.get(f"{service.upper()}_PORT") or settings_class.model_fields["port"].default
    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


if __name__ == "__main__":
    main()
