"""A real SMTP server (aiosmtpd) that stores every message it accepts as an .eml file.

`make run` starts it when nothing listens on the SMTP port; the tests start one per run and read
what arrived from its folder."""

import argparse
import asyncio
import itertools
import os
import signal
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class EmlFolderHandler:
    def __init__(self, folder: Path, delay_seconds: float = 0.0):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._sequence = itertools.count()
        self._delay = delay_seconds

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._delay:  # a slow mail server, for tests: the answer comes this much later
            await asyncio.sleep(self._delay)
        name = f"{time.time_ns()}-{os.getpid()}-{next(self._sequence)}.eml"
        temporary = self.folder / f".{name}.tmp"
        temporary.write_bytes(envelope.original_content or envelope.content)
        temporary.rename(self.folder / name)  # readers never see a half-written file
        return "250 Message accepted for delivery"


def start(folder: Path, host: str = "127.0.0.1", port: int = 1025, delay_seconds: float = 0.0) -> Controller:
    controller = Controller(EmlFolderHandler(folder, delay_seconds), hostname=host, port=port,
                            data_size_limit=10 * 1024 * 1024)
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SMTP_PORT", "1025")))
    parser.add_argument("--folder", type=Path, default=Path("var/mail"))
    # A slow mail server, for the compose test (it sets the variable in its compose file)
    parser.add_argument("--delay", type=float, default=float(os.environ.get("SMTP_CAPTURE_DELAY_SECONDS", "0")),
                        help="answer each message this many seconds later")
    args = parser.parse_args()
    controller = start(args.folder, args.host, args.port, args.delay)
    print(f"SMTP capture server on {args.host}:{args.port}, writing to {args.folder}/", flush=True)
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
