"""``gdbench.port``: a user's PyTorch training step checked against their port of it, and
both timed (the engine: ``gdbench.ports``). Every input is checked here first: bad input
raises ``UsageError`` with one line, before any work."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from gdbench.errors import UsageError
from gdbench.ports.models import Implementation, JaxModel, TorchModel

MAX_STEPS = 100_000


def _module(value) -> bool:
    try:
        from torch import nn
    except ImportError:
        return False
    return isinstance(value, nn.Module)


def _reference(value) -> TorchModel:
    if isinstance(value, tuple | list) and len(value) == 3:
        value = TorchModel(*value)
    if not isinstance(value, TorchModel) or not _module(value.model):
        raise UsageError(
            "reference is a PyTorch (module, optimizer factory, loss) or a "
            f"gdbench.TorchModel of an nn.Module, got {type(value).__name__}"
        )
    if not callable(value.optimizer) or not callable(value.loss):
        raise UsageError("reference needs an optimizer factory (params → optimizer) and a loss")
    if value.param_map:
        raise UsageError("reference: param_map belongs to a candidate")
    return value


def _candidate(name, value, maps: Mapping) -> Implementation:
    if not isinstance(name, str) or not name or name == "reference":
        raise UsageError(
            f"a candidate's name is a non-empty string other than 'reference', got {name!r}"
        )
    if _module(value):
        value = TorchModel(value)
    elif isinstance(value, tuple | list) and len(value) == 4:
        value = JaxModel(*value)
    if not isinstance(value, TorchModel | JaxModel):
        raise UsageError(
            f"candidate {name!r} is a {type(value).__name__}; give an nn.Module, a "
            "(params, apply, optax transformation, loss) tuple, a TorchModel or a JaxModel"
        )
    if isinstance(value, TorchModel) and not _module(value.model):
        raise UsageError(f"candidate {name!r}: TorchModel holds an nn.Module")
    if isinstance(value, JaxModel):
        if not callable(value.apply) or not callable(value.loss):
            raise UsageError(f"candidate {name!r}: apply and loss must be callables")
        if not hasattr(value.optimizer, "init") or not hasattr(value.optimizer, "update"):
            raise UsageError(
                f"candidate {name!r}: the optimizer must be an optax "
                "GradientTransformation (init, update)"
            )
    if value.param_map is None and maps.get(name) is not None:
        import dataclasses

        value = dataclasses.replace(value, param_map=maps[name])
    return value


def _maps(param_map, names: list[str]) -> dict:
    """``param_map``: one map for every candidate, or candidate name → its map."""
    if param_map is None:
        return {}
    if not isinstance(param_map, Mapping):
        raise UsageError(f"param_map is a dict, got {type(param_map).__name__}")
    if param_map and all(isinstance(v, Mapping) for v in param_map.values()):
        unknown = [k for k in param_map if k not in names]
        if unknown:
            raise UsageError(
                f"param_map names no candidate {unknown[0]!r}; candidates: {', '.join(names)}"
            )
        return dict(param_map)
    return dict.fromkeys(names, param_map)


def _array(value, what: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        a = np.asarray(value)
    except Exception as exc:
        raise UsageError(f"data: {what} is not an array ({type(exc).__name__})") from None
    if a.dtype.kind not in "biuf" or a.ndim == 0:
        raise UsageError(
            f"data: {what} must be an array of numbers, got {a.dtype} of shape {a.shape}"
        )
    bad = int(np.size(a) - np.isfinite(a).sum()) if a.dtype.kind == "f" else 0
    if bad:
        where = np.argwhere(~np.isfinite(a))[0]
        raise UsageError(
            f"data: {what} holds {bad} non-finite value{'s' * (bad > 1)} "
            f"(the first at {tuple(int(i) for i in where)})"
        )
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def _data(data) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise UsageError("data is (X, y): the inputs and the targets")
    X, y = _array(data[0], "X"), _array(data[1], "y")
    if len(X) != len(y) or len(X) == 0:
        raise UsageError(f"data: X has {len(X)} rows and y {len(y)}; they must match (≥ 1)")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    return X, y


def _whole(name: str, value, low: int, high: float = math.inf) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (low <= value <= high)
    ):
        top = "" if math.isinf(high) else f" to {int(high)}"
        raise UsageError(f"{name} must be a whole number {low}{top or ' or more'}, got {value!r}")
    return int(value)


def port(
    reference,
    candidates,
    data,
    batch_size: int = 32,
    steps: int = 20,
    seed: int = 0,
    param_map=None,
    timing: bool = True,
    threads: int | None = None,
    rounds: int = 3,
):
    """Checks each candidate implementation of the reference's training step, as its
    user wrote it, and times both (a ``PortResult``).

    reference: a PyTorch ``(module, optimizer factory, loss)`` or ``TorchModel``.
    candidates: name → an ``nn.Module`` (the reference's optimizer and loss), a JAX
    ``(params, apply, optax transformation, loss)`` tuple, a ``TorchModel`` or ``JaxModel``
    (one implementation alone is named "candidate").
    data: ``(X, y)``; every implementation takes the same ``batch_size`` rows a step, by
    gdbench's seeded schedule, for ``steps`` steps, from the reference's initial weights.
    param_map: the reference's parameter names → the candidate's (``"path.T"``:
    transposed); one dict for every candidate, or candidate name → dict.
    timing: time each training step in float32 (``rounds`` rounds, on ``threads`` CPUs)."""
    from gdbench.ports.engine import PortError, check
    from gdbench.ports.mapping import MappingError

    ref = _reference(reference)
    if isinstance(candidates, TorchModel | JaxModel | tuple) or _module(candidates):
        candidates = {"candidate": candidates}
    if not isinstance(candidates, Mapping) or not candidates:
        raise UsageError("candidates is a dict: name → implementation (at least one)")
    maps = _maps(param_map, list(candidates))
    impls = {name: _candidate(name, c, maps) for name, c in candidates.items()}
    X, y = _data(data)
    batch = _whole("batch_size", batch_size, 1, len(X))
    if not isinstance(timing, bool):
        raise UsageError(f"timing must be True or False, got {timing!r}")
    if threads is not None:
        _whole("threads", threads, 1)
    try:
        return check(
            ref,
            impls,
            X,
            y,
            batch,
            _whole("steps", steps, 1, MAX_STEPS),
            _whole("seed", seed, 0),
            timing,
            threads,
            _whole("rounds", rounds, 1, 100),
        )
    except MappingError as exc:
        raise UsageError(str(exc)) from None
    except PortError as exc:
        raise UsageError(f"reference: {exc}") from None


FILE_NAMES = ("reference", "candidates", "data")
FILE_OPTIONS = ("param_map", "batch_size", "steps", "seed")


def _whole_text(flag: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--{flag.replace('_', '-')} takes a whole number, got {text!r}") from None


def port_file(path, options: dict, timing: bool = True):
    """``port`` on what the file at ``path`` defines (``FILE_NAMES``, and any of
    ``FILE_OPTIONS``); ``options``: the command line's, as text, which replace the file's."""
    import runpy
    from pathlib import Path

    from gdbench.errors import one_line

    file = Path(path)
    if file.suffix != ".py" or not file.is_file():
        raise UsageError(f"port: {path} is not a Python file")
    try:
        names = runpy.run_path(str(file), run_name="__gdbench_port__")
    except SystemExit as exc:
        raise UsageError(f"port: {path} exited ({exc.code}) while it was run") from None
    except Exception as exc:
        raise UsageError(
            one_line(f"port: {path} raised {type(exc).__name__}: {exc}", 500)
        ) from None
    missing = [n for n in FILE_NAMES if n not in names]
    if missing:
        raise UsageError(
            f"port: {path} defines no {', '.join(missing)}; it must define {', '.join(FILE_NAMES)}"
        )
    given = {n: names[n] for n in FILE_OPTIONS if n in names}
    given.update({k: _whole_text(k, str(v)) for k, v in options.items()})
    return port(names["reference"], names["candidates"], names["data"], timing=timing, **given)
