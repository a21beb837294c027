"""JAX: jax.value_and_grad, eager, jitted, or the whole loop fused with lax.scan."""

from __future__ import annotations

import numpy as np

from gdbench.backend import Backend, Session, StepSession
from gdbench.frameworks import import_jax
from gdbench.registry import register_backend
from gdbench.trajectory import Trajectory


def _device(jax, device):
    return jax.devices("gpu" if device == "cuda" else "cpu")[0]


class _JaxBase:
    def __init__(self, problem, inst, setup):
        jax = self.jax = import_jax()
        dev = _device(jax, setup.device)
        self.data = {
            k: jax.device_put(np.asarray(v, dtype=setup.dtype), dev) for k, v in inst.data.items()
        }
        self.w0 = jax.device_put(np.asarray(inst.w0, dtype=setup.dtype), dev)
        lr = setup.lr
        value_and_grad = jax.value_and_grad(lambda w, data: problem.loss(w, **data))

        def update(w, data):
            loss, g = value_and_grad(w, data)
            return w - lr * g, loss, g

        self.update = update

    def sync(self):
        self.jax.block_until_ready(self.w)


class JaxStepSession(_JaxBase, StepSession):
    """eager: jax.grad dispatched op by op; jit: the whole update compiled once."""

    def __init__(self, problem, inst, setup):
        super().__init__(problem, inst, setup)
        self.compiles = setup.mode == "jit"
        self.step_fn = self.jax.jit(self.update) if self.compiles else self.update
        self.reset()

    def reset(self):
        self.w = self.w0

    def step(self, record):
        self.w, loss, g = self.step_fn(self.w, self.data)
        if record:
            return float(loss), np.asarray(g, np.float64), np.asarray(self.w, np.float64)
        return None

    def compile_count(self):
        return self.step_fn._cache_size() if self.compiles else 0


class JaxScanSession(_JaxBase, Session):
    """scan: every step of the loop, trajectory included, fused into one device program."""

    compiles = True

    def __init__(self, problem, inst, setup):
        super().__init__(problem, inst, setup)
        jax, update = self.jax, self.update

        def body(w, _):
            w, loss, g = update(w, self.data)
            return w, (loss, g, w)

        # The step count is static for the recorded loop (it sizes the output)...
        self.scan = jax.jit(lambda w, n: jax.lax.scan(body, w, None, length=n), static_argnums=1)

        # ...and dynamic for the timed one, so that growing blocks do not recompile.
        def loop(w, n):
            return jax.lax.fori_loop(0, n, lambda i, w: update(w, self.data)[0], w)

        self.loop = jax.jit(loop)
        self.w = self.w0

    def trajectory(self, steps):
        _, (loss, g, w) = self.scan(self.w0, steps)
        return Trajectory.from_steps(np.asarray(loss), np.asarray(g), np.asarray(w))

    def run_steps(self, n):
        self.w = self.loop(self.w, n)

    def compile_count(self):
        return self.loop._cache_size()


class JaxBackend(Backend):
    name = "jax"
    order = 3
    modes = ("jit", "eager", "scan")
    default_mode = "jit"
    requires = ("jax",)

    def device_available(self, device):
        if device == "cpu":
            return True, ""
        jax = import_jax()
        try:
            jax.devices("gpu")
        except RuntimeError:
            return False, f"jax {jax.__version__} sees no GPU (backend {jax.default_backend()})"
        return True, ""

    def device_name(self, device):
        if device == "cuda":
            return _device(import_jax(), device).device_kind
        return super().device_name(device)

    def prepare(self, problem, inst, setup):
        if setup.mode == "scan":
            return JaxScanSession(problem, inst, setup)
        return JaxStepSession(problem, inst, setup)


register_backend(JaxBackend())
