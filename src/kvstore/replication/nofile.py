"""The log of a node without persistence (``--no-persist``) that has a replication stream:
the journal writes its batches here, and they go to the stream alone, never to a file."""

from __future__ import annotations

from kvstore.persistence.log import AppendLog


class NoFileLog(AppendLog):
    def __init__(self) -> None:  # no file: none of AppendLog's set-up applies
        self.policy = "no"
        self.path = "(no file: --no-persist)"
        self.size = 0
        self.seq = 0
        self.on_append = None

    def append(self, data: bytes) -> None:
        if self.on_append is not None:
            self.on_append(data)

    def fsync(self) -> None:
        pass

    def close(self) -> None:
        pass
