"""The nginx gateway as a real process on a free port, in a prefix folder of the test's, in front
of whatever upstreams the test gives it (real services or stand-ins)."""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from crs_tools.local_stack import Child, free_port, start_gateway


class GatewayProcess:
    def __init__(self, upstreams: dict[str, list[str]], folder: Path):
        self.upstreams, self.prefix = upstreams, folder / f"gateway-{uuid.uuid4().hex[:6]}"
        self.log_path = self.prefix.with_suffix(".log")
        self.port = free_port()
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "GatewayProcess":
        self.child = start_gateway(self.port, self.upstreams, self.prefix, self.log_path)
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class EchoUpstream:
    """A stand-in service: answers every request with JSON saying who answered and what arrived,
    and remembers the requests (headers as the gateway passed them on) and counts the connections
    opened to it. With `together`, each request waits until that many are in hand, so that many
    are in flight at once."""

    def __init__(self, name: str, *, padding: int = 0, together: int | None = None):
        self.name, self.requests, self.connections = name, [], 0
        self._together = threading.Barrier(together) if together else None
        owner, counting = self, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with counting:
                    owner.connections += 1

            def _answer(self):
                if owner._together is not None:
                    owner._together.wait(timeout=10)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                body = json.dumps({"upstream": owner.name, "path": self.path,
                                   "request_id": self.headers.get("X-Request-ID"),
                                   "padding": "results " * padding}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Request-ID", "upstream-must-not-leak")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "EchoUpstream":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
