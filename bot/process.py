"""What the bot and a GPU worker share as processes: their exit codes, and stopping cleanly on
SIGTERM or Ctrl+C (the event is set; the process finishes what it runs, then returns)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

EXIT_OK, EXIT_FAILED, EXIT_SETTINGS = 0, 1, 2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` while the block runs (where the loop can take signals:
    not on Windows, not outside the main thread, e.g. under a test runner)."""
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
