"""The terminal's side of the command line: text its encoding cannot show, and signals.

gdbench's tables use µ, ±, ‖ and ×. Where stdout's encoding cannot hold them
(``PYTHONIOENCODING=ascii``, a C locale), they are spelt in ASCII instead of ending a good
run in ``UnicodeEncodeError``. SIGTERM is handled as Ctrl-C is: the rows written so far
stay, the workers are stopped, and the exit status says which signal it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Iterator

ASCII = str.maketrans(
    {
        "µ": "u",
        "±": "+-",
        "‖": "|",
        "×": "x",
        "·": "*",
        "−": "-",
        "–": "-",
        "—": "-",
        "…": "...",
        "≥": ">=",
        "≤": "<=",
        "≈": "~",
        "²": "^2",
        "ᵀ": "^T",
        "→": "->",
    }
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so that the same
    clean-up runs (rows kept, workers stopped)."""


class _Transliterating(io.TextIOBase):
    """A text stream that spells the table's symbols in ASCII and replaces what else its
    encoding cannot hold."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        encoding = getattr(self.stream, "encoding", None) or "ascii"
        safe = text.translate(ASCII).encode(encoding, "replace").decode(encoding)
        self.stream.write(safe)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):  # type: ignore[override]
        return getattr(self.stream, "encoding", None)


def _shows_symbols(stream) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True  # a StringIO (tests): text, no encoding to fail
    try:
        "µ±‖×".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


@contextlib.contextmanager
def terminal() -> Iterator[None]:
    """While the command runs: ASCII fallbacks for stdout and stderr, SIGTERM as
    ``Terminated``; both restored afterwards (tests run many commands in one process)."""
    saved = sys.stdout, sys.stderr
    if not _shows_symbols(sys.stdout):
        sys.stdout = _Transliterating(sys.stdout)
    if not _shows_symbols(sys.stderr):
        sys.stderr = _Transliterating(sys.stderr)
    previous = None
    if threading.current_thread() is threading.main_thread():

        def terminated(signum, frame):
            raise Terminated()

        previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sys.stdout, sys.stderr = saved


def silence_stdout() -> None:
    """After a closed pipe (``| head``): later writes, and the interpreter's flush at exit,
    go nowhere instead of raising BrokenPipeError again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
