"""The nginx gateway as a real process on a free port, in a prefix folder of the test's, in front
of whatever upstreams the test gives it (real services or stand-ins)."""

import json
import socketserver
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from crs_tools.local_stack import Child, free_port, start_gateway


class GatewayProcess:
    def __init__(self, upstreams: dict[str, str], folder: Path, **options):
        """`options` as for crs_tools.gateway.render (trusted_proxies, resolver)."""
        self.upstreams, self.options = upstreams, options
        self.prefix = folder / f"gateway-{uuid.uuid4().hex[:6]}"
        self.log_path = self.prefix.with_suffix(".log")
        self.port = free_port()
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "GatewayProcess":
        self.child = start_gateway(self.port, self.upstreams, self.prefix, self.log_path, **self.options)
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class ServedInThread:
    """A socketserver's server answering from a thread of its own until `stop`."""

    def __init__(self, server: socketserver.BaseServer):
        self.server = server
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class EchoUpstream(ServedInThread):
    """A stand-in service: answers every request with JSON saying who answered and what arrived,
    and remembers the requests (headers as the gateway passed them on). Several can share a port
    on different loopback addresses, as the replicas behind one name do."""

    def __init__(self, name: str, *, padding: int = 0, host: str = "127.0.0.1", port: int = 0):
        self.name, self.requests = name, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
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

        super().__init__(ThreadingHTTPServer((host, port), Handler))

    @property
    def host(self) -> str:
        return self.server.server_address[0]

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class DnsStandIn(ServedInThread):
    """A DNS server on 127.0.0.1 that answers A queries from `records` (name -> addresses), which the
    test may change at any time, as Docker's DNS answers for a compose service being scaled. Any
    other name is unknown (NXDOMAIN)."""

    def __init__(self):
        self.records: dict[str, list[str]] = {}
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                query = dns.message.from_wire(data)
                answer = dns.message.make_response(query)
                question = query.question[0]
                addresses = owner.records.get(question.name.to_text(omit_final_dot=True), [])
                if not addresses:
                    answer.set_rcode(dns.rcode.NXDOMAIN)
                elif question.rdtype == dns.rdatatype.A:
                    answer.answer.append(dns.rrset.from_text_list(question.name, 1, "IN", "A", addresses))
                sock.sendto(answer.to_wire(), self.client_address)

        super().__init__(socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"
