"""Ctrl-C and SIGTERM during a run: the first stops it cleanly, a second ends the process at once.

A clean stop cancels pending work, aborts in-flight requests on the server and returns the partial
result (the CLI writes it and the journal, then exits 130 for SIGINT or 143 for SIGTERM). A second
signal exits at once with the same status; the journal is already on disk, line by line.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Self

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_status(caught: signal.Signals) -> int:
    """The shell's convention: 128 plus the signal's number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + caught.value


class Interrupts:
    """While entered (inside a running event loop), turns SIGINT and SIGTERM into `stop(reason)`."""

    def __init__(self, stop: Callable[[str], None]) -> None:
        self.stop = stop
        self.caught: signal.Signals | None = None
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> Self:
        loop = asyncio.get_running_loop()
        for each in SIGNALS:
            try:
                loop.add_signal_handler(each, self._handle, each)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or a platform without loop signal handlers
            self._installed.append(each)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        loop = asyncio.get_running_loop()
        for each in self._installed:
            loop.remove_signal_handler(each)

    def _handle(self, caught: signal.Signals) -> None:
        if self.caught is not None:
            sys.stderr.write(f"error: {caught.name} again: exiting at once (the journal is on disk)\n")
            sys.stderr.flush()
            os._exit(exit_status(caught))
        self.caught = caught
        self.stop(f"interrupted by {caught.name}")
