"""What a MongoDB client sends: a command listener for tests that count round trips or read filters."""

from pymongo import monitoring


class CommandLog(monitoring.CommandListener):
    """Every command the driver sends (one per round trip to the server), by name and in full."""

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    @property
    def names(self) -> list[str]:
        return [name for name, _command in self.sent]

    def filters(self, command_name: str, collection: str) -> list[dict]:
        """The filters of the `command_name` commands sent to `collection`, in order."""
        return [dict(command["filter"]) for name, command in self.sent
                if name == command_name and command.get(command_name) == collection]

    def clear(self) -> None:
        self.sent.clear()

    def started(self, event):
        self.sent.append((event.command_name, dict(event.command)))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass
