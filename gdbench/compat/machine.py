"""What this machine has: its last-level cache, its memory and the CPUs gdbench may use.

Each probe reads the machine, and each has one override in the environment, so that a run
(or a test suite) can be told the machine it plans for instead of the one it is on:

- ``GDBENCH_LLC_BYTES``: the last-level cache (``--n-samples roof``, the cache roof);
- ``GDBENCH_MEMORY_BYTES``: the physical memory (the memory guard);
- ``GDBENCH_CPUS``: the CPUs gdbench may use (``--threads``, the rows' ``threads``).

A size is bytes, or a number with KiB, MiB, GiB or TiB (``260MiB``). A value that is not
one is a ``UsageError`` naming the variable, never a silent fallback to the probe.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from gdbench.errors import UsageError

LLC_VAR, MEMORY_VAR, CPUS_VAR = "GDBENCH_LLC_BYTES", "GDBENCH_MEMORY_BYTES", "GDBENCH_CPUS"
FALLBACK_LLC = 32 * 1024**2  # where sysfs cannot be read

_UNITS = {"": 1, "B": 1, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)\s*", re.IGNORECASE)


def parse_size(text: str, name: str) -> int:
    """``"260MiB"`` → 272629760; a whole number is bytes. Raises ``UsageError`` otherwise."""
    m = _SIZE.fullmatch(text)
    unit = m.group(2).upper() if m else ""
    if unit and not unit.endswith("B"):
        unit += "B"  # "260M" reads as 260MiB
    if unit not in ("", "B") and "I" not in unit:
        unit = unit[0] + "IB"
    if m is None or unit not in _UNITS or float(m.group(1)) * _UNITS[unit] < 1:
        raise UsageError(
            f"{name}={text!r}: give a size in bytes, or with KiB, MiB, GiB or TiB (260MiB)"
        )
    return int(float(m.group(1)) * _UNITS[unit])


def _override(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def last_level_cache_bytes() -> int:
    """The largest CPU cache: ``GDBENCH_LLC_BYTES`` where set, else sysfs (32 MiB where
    that cannot be read)."""
    given = _override(LLC_VAR)
    return parse_size(given, LLC_VAR) if given else _sysfs_cache_bytes()


@functools.cache
def _sysfs_cache_bytes() -> int:
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip().upper()
        mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
        try:
            sizes.append(int(text.rstrip("KMG")) * mult)
        except ValueError:
            continue
    return max(sizes) if sizes else FALLBACK_LLC


def physical_memory() -> int | None:
    """The machine's memory in bytes: ``GDBENCH_MEMORY_BYTES`` where set, else the
    operating system's count (None where it gives none: the memory guard then checks
    nothing)."""
    given = _override(MEMORY_VAR)
    if given:
        return parse_size(given, MEMORY_VAR)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_cpus() -> int:
    """The CPUs this process may run on: ``GDBENCH_CPUS`` where set, else its affinity."""
    given = _override(CPUS_VAR)
    if given:
        if not given.isdigit() or int(given) < 1:
            raise UsageError(f"{CPUS_VAR}={given!r}: give a positive whole number of CPUs")
        return int(given)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
