"""The update loop of every problem × backend × mode (× device), timed by pytest-benchmark.

Each round runs a block of update steps through the same Session (step functions and
``sync``) that ``python -m gdbench`` times; the sync is inside the timed function, so
queued GPU work is counted. Compilation happens in the untimed warm-up before the first
round, and ``benchmark.pedantic`` adds warm-up rounds on top. Groups put one problem and
size side by side (per optimizer); ``extra_info`` carries backend, mode, optimizer and its
hyperparameters and implementation, device, dtype, N, D.
"""

from __future__ import annotations

import importlib.util

import pytest

from gdbench import registry
from gdbench.backend import Setup
from gdbench.optimizer import NotMapped

DEVICES = ["cpu"]
if importlib.util.find_spec("torch") is not None:
    import torch

    if torch.cuda.is_available():
        DEVICES.append("cuda")


def cells():
    for name, backend in registry.backends().items():
        ok, why = backend.available()
        for mode in backend.modes:
            for device in DEVICES:
                marks = [] if ok else [pytest.mark.skip(reason=f"{name}: {why}")]
                runnable = (
                    backend.device_available(device)[0] and backend.mode_available(mode, device)[0]
                )
                if ok and not runnable:
                    continue  # e.g. numpy on cuda, cudagraph on the CPU
                yield pytest.param(name, mode, device, id=f"{name}-{mode}-{device}", marks=marks)


@pytest.mark.parametrize("dtype", ["float32"])
@pytest.mark.parametrize(("backend", "mode", "device"), list(cells()))
def test_update_loop(benchmark, problem, backend, mode, device, dtype, size, optimizer, request):
    n, d = size
    steps = request.config.gd_steps
    if backend == "jax" and mode == "eager" and n * d > 10**6:
        pytest.skip("jax eager dispatches op by op; too slow to benchmark at this size")
    name, problem = problem, registry.problems()[problem]
    inst = problem.make(n, d, 0) if n else problem.make()
    lr = problem.default_lr
    opt = registry.optimizers()[optimizer]
    hyper = request.config.gd_optimizers[optimizer]
    try:
        session = registry.backends()[backend].prepare(
            problem, inst, Setup(lr, dtype, device, mode, opt, hyper)
        )
    except NotMapped as exc:
        pytest.skip(str(exc))
    compile_s = session.warmup()

    def block():
        session.run_steps(steps)
        session.sync()

    benchmark.group = f"{name} N={inst.n_samples} D={inst.features} {dtype} {optimizer}"
    benchmark.extra_info.update(
        problem=name,
        backend=backend,
        mode=mode,
        optimizer=optimizer,
        optimizer_args=hyper,
        optimizer_impl=session.optimizer_impl,
        device=device,
        dtype=dtype,
        n_samples=inst.n_samples,
        features=inst.features,
        steps_per_round=steps,
        compile_s=compile_s,
    )
    benchmark.pedantic(block, rounds=20, iterations=1, warmup_rounds=2)
