"""What machine and software produced a result: columns stored with every row."""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


# The device nodes a GPU driver makes: NVIDIA's, WSL's (/dev/dxg), AMD ROCm's (/dev/kfd; torch
# calls a ROCm device "cuda" too).
GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")


@functools.cache
def gpu_driver_visible() -> bool:
    """Whether a GPU driver shows on this machine, so that ``--device auto`` has to ask
    torch and JAX (seconds of imports in the parent) at all. On Linux its device nodes
    tell; macOS has no CUDA; elsewhere the libraries are asked."""
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in GPU_NODES) or any(Path("/dev").glob("nvidia[0-9]*"))
    return sys.platform != "darwin"


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def allocator() -> str:
    """The memory allocator's settings that the processes inherit: glibc's ``MALLOC_*``
    tunables and ``LD_PRELOAD`` (jemalloc, tcmalloc); "default" when none is set. They change
    eager timings at large N (docs/sweeps.md, "The allocator")."""
    names = sorted(k for k in os.environ if k.startswith("MALLOC_") or k == "LD_PRELOAD")
    return " ".join(f"{k}={os.environ[k]}" for k in names) or "default"


@functools.cache
def versions(packages: tuple[str, ...]) -> str:
    """``"jax 0.10.2, numpy 2.4.6"``: the installed versions of these distributions, by
    name; one not installed is left out."""
    found = {p: version(p) for p in sorted(set(packages))}
    return ", ".join(f"{p} {v}" for p, v in found.items() if v)


def environment(packages: tuple[str, ...] = ("numpy",)) -> dict[str, str]:
    """Versions read from package metadata (``packages``: what the backends name, see
    ``Backend.packages``): nothing heavy is imported here."""
    return {
        "malloc": allocator(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "versions": versions(packages),
        "git_commit": git_commit(),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
