"""Progress of a sandboxed run, read from a file the self appends one line to per finished task.

The self answers every task in one process, so the harness cannot count answers
until the run ends. Instead the self may append a line to PROGRESS_FILE after each
task, and a watcher thread counts the lines while the run goes on. The count is the
self's claim and only moves a progress bar; scores and usage never depend on it.
The file is untrusted: it is opened without following links and without blocking
(a planted FIFO or a link to /dev/zero cannot stall or flood the harness), and only
the bytes added since the last look are read, at most READ_CAP per look.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from rsilab.errors import UntrustedInput
from rsilab.untrusted import open_regular

PROGRESS_FILE = "rsilab_progress.txt"
READ_CAP = 64 * 1024
POLL_SECONDS = 0.1

Progress = Callable[[int], None]  # called with the number of tasks the self says it finished


class ProgressWatcher:
    """Counts lines in `path` every POLL_SECONDS on a thread; calls `report` when the count grows."""

    def __init__(self, path: Path, report: Progress, interval: float = POLL_SECONDS) -> None:
        self.path, self.report, self.interval = path, report, interval
        self.lines = 0
        self._offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="rsilab-progress", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # the lines written just before the run ended

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        added = self._read_new_bytes().count(b"\n")
        if added:
            self.lines += added
            self.report(self.lines)

    def _read_new_bytes(self) -> bytes:
        try:
            fd = open_regular(self.path, what=PROGRESS_FILE)
        except UntrustedInput:
            return b""  # not written yet, a link, a FIFO or a device: no progress to show
        try:
            os.lseek(fd, self._offset, os.SEEK_SET)
            data = os.read(fd, READ_CAP)
            self._offset += len(data)
            return data
        except OSError:
            return b""
        finally:
            os.close(fd)
