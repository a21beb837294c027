"""The ``port`` command's options (``python -m gdbench port FILE.py``)."""

from __future__ import annotations


def add_port_parser(sub, common) -> None:
    p = sub.add_parser(
        "port",
        help="check a PyTorch training step against ports of it (JAX, PyTorch) and time them",
        description="FILE.py defines reference (a PyTorch (module, optimizer factory, "
        "loss)), candidates (name → implementation) and data ((X, y)), and may define "
        "param_map, batch_size, steps and seed; the options below replace the file's.",
    )
    common(p)
    p.add_argument("file", metavar="FILE.py", help="the file that defines the objects")
    p.add_argument("--steps", default=None, metavar="N", help="training steps (default 20)")
    p.add_argument("--batch-size", default=None, metavar="B", help="rows a step (default 32)")
    p.add_argument("--seed", default=None, metavar="S", help="the batch schedule's seed (0)")
    p.add_argument("--rounds", default=None, metavar="R", help="timing rounds (default 3)")
    p.add_argument("--threads", default=None, metavar="T", help="pin the timed steps to T CPUs")
    p.add_argument("--no-timing", action="store_true", help="judge only, do not time")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write port.csv, deviations.csv and port.png to DIR (a new folder)",
    )
