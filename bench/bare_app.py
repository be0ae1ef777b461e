"""The results-read floor: `python -m bench.bare_app PORT FILE` answers GET /api/results/me with the
JSON in FILE, held in memory, from a bare FastAPI app served as the services are (crs_shared.http.serve)."""

import sys
from pathlib import Path

from fastapi import FastAPI, Response

from crs_shared.config import ServiceSettings
from crs_shared.http import serve


def create_app(body: bytes) -> FastAPI:
    app = FastAPI()

    @app.get("/api/results/me")
    async def my_results() -> Response:
        return Response(body, media_type="application/json", headers={"Cache-Control": "private, no-store"})

    return app


if __name__ == "__main__":
    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    serve(create_app(body_file.read_bytes()), ServiceSettings(host="127.0.0.1"), port)
