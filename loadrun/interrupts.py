"""Ctrl-C that is never lost.

Python raises KeyboardInterrupt at the next bytecode, which may belong to a finalizer or a weakref
callback, where it is printed as "Exception ignored" and dropped: a long measurement would then go
on. The CLI runs inside :func:`installed`; the handler remembers the interrupt before raising, and the
long loops call :func:`check` between chunks of work, so a dropped KeyboardInterrupt is raised again
there.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

_interrupted = False


def _handler(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """While inside, SIGINT remembers itself (main thread only; nothing changes elsewhere or where
    SIGINT is ignored); the previous handler comes back on exit."""
    global _interrupted
    _interrupted = False
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None):
        yield
        return
    signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _interrupted = False  # outside, check() never raises


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even if that exception was dropped."""
    if _interrupted:
        raise KeyboardInterrupt
