"""A progress bar with an ETA for scans that take a while (nmap prints ``Stats: ... About
45.00% done; ETC: 16:47 (0:00:03 remaining)`` when asked; a terminal bar says the same).

The bar goes to stderr, so stdout stays the report (and pipes, ``-oX -`` and ``--json`` are
never mixed with it).  It is drawn only when stderr is a terminal and only once the scan has
run for :data:`DELAY` seconds: a scan of a few ports ends before a bar would be worth
drawing, and a bar that flashes for 50 ms is noise.  The scan calls the object as
``progress(done, total)``; calls are cheap when no bar is shown.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

DELAY = 1.0


class ScanProgress:
    """``progress(done, total)`` callback that draws a rich bar on stderr after DELAY s."""

    def __init__(self, description: str, *, stream: TextIO | None = None,
                 delay: float = DELAY, force: bool | None = None) -> None:
        self.description = description
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        self.enabled = self.stream.isatty() if force is None else force
        self.started = time.monotonic()
        self.done = 0
        self.total = 0
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int, *_: Any, **__: Any) -> None:
        self.done, self.total = done, total
        if not self.enabled:
            return
        if self._bar is None:
            if time.monotonic() - self.started < self.delay or done >= total:
                return
            self._start()
        self._bar.update(self._task, completed=done, total=total)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(file=self.stream, force_terminal=self.enabled)
        # fits 80 columns with a 65535-port total: a pty without a size is 80 wide
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20),
                             MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                             TimeRemainingColumn(), console=console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=self.total)

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> ScanProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
