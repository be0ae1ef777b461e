"""Services as real processes, for end-to-end and crash tests."""

import subprocess
import uuid
from pathlib import Path

from crs_tools.local_stack import Child, free_port, start_service


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path):
        self.name, self.env, self.log_path = name, env, log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.port = free_port()
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **extra_env: str) -> "ServiceProcess":
        self.child = start_service(self.name, self.port, {**self.env, **extra_env}, self.log_path)
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def kill(self) -> None:
        self.child.kill()

    def terminate(self, timeout: float) -> int:
        """SIGTERM, then waits up to `timeout` seconds for the process to exit by itself; returns
        its exit code (fails, after a SIGKILL, if it did not exit in time)."""
        self.child.process.terminate()
        try:
            return self.child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.child.kill()
            raise AssertionError(f"{self.name} did not exit within {timeout}s of SIGTERM") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def service_env(mongo_url: str, amqp_url: str, smtp_port: int, service: str) -> dict[str, str]:
    return {
        "MONGODB_URL": mongo_url, "AMQP_URL": amqp_url, "SMTP_PORT": str(smtp_port),
        "DATABASE_NAME": f"{service}_{uuid.uuid4().hex[:8]}", "LOG_JSON": "true",
        "RETRY_BACKOFF_SECONDS": "0.05", "OUTBOX_POLL_SECONDS": "0.1", "DISPATCH_POLL_SECONDS": "0.1",
    }
