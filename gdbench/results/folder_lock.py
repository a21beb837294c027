"""One writer per results folder: an exclusive lock held for the whole run.

The lock is ``flock`` on ``DIR/.gdbench.lock``, which names its holder (pid and host). The
kernel drops it when the holding process ends, however it ends (Ctrl-C, SIGTERM, kill -9),
so a lock file left behind by a killed run is recognised as stale by simply taking it
again. The file itself stays (removing a file another process may be opening races with
it); folder checks ignore it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

LOCK_NAME = ".gdbench.lock"

# Locks this process holds, by resolved folder: released by ``release`` or at exit.
_HELD: dict[Path, int] = {}
# Lock files this process created, so that a run refused after taking the lock (a damaged
# folder to --resume, say) leaves the folder exactly as it found it.
_CREATED: set[Path] = set()


def holder(folder: Path) -> str:
    """What the lock file says of its holder, e.g. "pid 4242 on host-a"."""
    try:
        text = (folder / LOCK_NAME).read_text(encoding="utf-8").strip()
    except OSError:
        return "another process"
    return text or "another process"


def acquire(folder: Path) -> None:
    """Takes ``folder``'s lock for this process, or refuses in one line naming the holder.
    Taking it twice in one process is a no-op (a resumed run inside a test, say)."""
    from gdbench.errors import UsageError

    key = folder.resolve()
    if key in _HELD:
        return
    path = folder / LOCK_NAME
    existed = path.exists()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UsageError(f"--out {folder} cannot be locked ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UsageError(
            f"{folder} is being written by {holder(folder)}; one run writes a results "
            "folder at a time (wait for it, or choose another --out)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    _HELD[key] = fd
    if not existed:
        _CREATED.add(key)


def release(folder: Path, discard: bool = False) -> None:
    """Drops the lock this process holds on ``folder`` (nothing if it holds none); with
    ``discard``, a lock file this process created is removed first (a refused run)."""
    key = folder.resolve()
    fd = _HELD.pop(key, None)
    created = key in _CREATED
    _CREATED.discard(key)
    if discard and created:
        with contextlib.suppress(OSError):
            (key / LOCK_NAME).unlink()
    if fd is not None:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock


def release_all(discard: bool = False) -> None:
    for folder in list(_HELD):
        release(folder, discard)


def is_empty(folder: Path) -> bool:
    """No entry but a lock file (a run killed before its first write leaves only that)."""
    return all(p.name == LOCK_NAME for p in folder.iterdir())


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files a killed writer left (``.NAME.*.tmp``); only under the lock, when no
    writer can be using them."""
    for p in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()
