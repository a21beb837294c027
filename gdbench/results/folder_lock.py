"""One writer per results folder: an exclusive lock held for the whole run.

The lock is ``flock`` on ``DIR/.gdbench.lock``, which names its holder (pid and host). The
kernel drops it when the holding process ends, however it ends (Ctrl-C, SIGTERM, kill -9),
so a lock file left behind by a killed run is recognised as stale by simply taking it
again; folder checks ignore it. A run that finishes removes its lock file (while it still
holds the lock, so a process that opened the old file meanwhile sees that its file is no
longer the folder's lock, and opens again).

The lock file is opened without following a symbolic link and must be a regular file: a
results folder someone shared, or a download, may hold a ``.gdbench.lock`` that links to
any file the user can write, which opening it with ``O_CREAT`` and truncating it to name
the holder would empty.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
from pathlib import Path

LOCK_NAME = ".gdbench.lock"

# Locks this process holds, by resolved folder: released by ``release`` or at exit.
_HELD: dict[Path, int] = {}
# Lock files this process created, so that a run refused after taking the lock (a damaged
# folder to --resume, say) leaves the folder exactly as it found it.
_CREATED: set[Path] = set()
# Results folders this process made (``made``): a refused run takes them away again.
_MADE: set[Path] = set()


def made(folder: Path) -> None:
    """``folder`` was created by this run: a refusal (``release`` with ``discard``) removes
    it again where nothing but the lock is in it, so a refused run leaves no empty folder."""
    _MADE.add(Path(folder).resolve())


def holder(folder: Path) -> str:
    """What the lock file says of its holder, e.g. "pid 4242 on host-a"."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return "another process"
    with os.fdopen(fd, "rb") as fh:
        text = fh.read(200).decode("utf-8", "replace").strip()
    return text or "another process"


def _open_lock(folder: Path) -> int:
    """A descriptor of ``folder``'s lock file, created if missing, never through a link."""
    from gdbench.errors import UsageError

    path = folder / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if os.path.islink(path):
            raise UsageError(
                f"{path} is a symbolic link; gdbench writes no file through a link (remove "
                "it: a finished or killed run's lock is a plain file)"
            ) from None
        raise UsageError(f"--out {folder} cannot be locked ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"{path} is not a regular file; remove it")
    return fd


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (a finishing run may have removed it)."""
    try:
        here = os.lstat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def acquire(folder: Path) -> None:
    """Takes ``folder``'s lock for this process, or refuses in one line naming the holder.
    Taking it twice in one process is a no-op (a resumed run inside a test, say)."""
    from gdbench.errors import UsageError

    key = folder.resolve()
    if key in _HELD:
        return
    path = folder / LOCK_NAME
    for _ in range(10):  # another run finishing at this moment removes the file we opened
        existed = os.path.lexists(path)
        fd = _open_lock(folder)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UsageError(
                f"{folder} is being written by {holder(folder)}; one run writes a results "
                "folder at a time (wait for it, or choose another --out)"
            ) from None
        if _is_current(fd, path):
            break
        os.close(fd)
    else:
        raise UsageError(f"--out {folder}: its lock file keeps changing; try again")
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    _HELD[key] = fd
    if not existed:
        _CREATED.add(key)


def release(folder: Path, discard: bool = False) -> None:
    """Drops the lock this process holds on ``folder`` (nothing if it holds none) and
    removes its file, still under the lock. With ``discard`` (a refused run), a lock file
    this process did not create is left as it was found, emptied of this holder's name."""
    key = folder.resolve()
    fd = _HELD.pop(key, None)
    created = key in _CREATED
    _CREATED.discard(key)
    was_made = key in _MADE
    _MADE.discard(key)
    if fd is not None:
        _drop(fd, key / LOCK_NAME, created or not discard)
    if discard and was_made:
        with contextlib.suppress(OSError):
            key.rmdir()  # only where it is empty: a refused run leaves nothing behind


def _drop(fd: int, path: Path, remove: bool) -> None:
    """Closes a held lock; its file removed (``remove``, where it is still the one held)
    or emptied of this holder's name."""
    if remove and _is_current(fd, path):
        with contextlib.suppress(OSError):
            path.unlink()
    else:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
    os.close(fd)  # closing the descriptor releases the flock


def release_all(discard: bool = False) -> None:
    for folder in list(_HELD) + [f for f in _MADE if f not in _HELD]:
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
