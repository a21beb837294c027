"""JAX: jax.value_and_grad and the optimizer's optax transformation, eager, jitted, or the
whole loop (optimizer state included) fused with lax.scan."""

from __future__ import annotations

import importlib.util

import numpy as np

from gdbench.backend import Backend, Session, StepSession
from gdbench.frameworks import import_jax, import_optax
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
        optax = import_optax()
        tx, self.optimizer_impl, self.optimizer_used = setup.optimizer.optax_transform(
            setup.lr, setup.hyper, setup.native
        )
        self.state0 = tx.init(self.w0)
        value_and_grad = jax.value_and_grad(lambda w, data: problem.loss(w, **data))

        def update(carry, data):
            """One step on the carry (w, optimizer state): optax's own update."""
            w, state = carry
            loss, g = value_and_grad(w, data)
            updates, state = tx.update(g, state, w)
            return (optax.apply_updates(w, updates), state), loss, g

        self.update = update

    def sync(self):
        self.jax.block_until_ready(self.carry)

    @property
    def w(self):
        return self.carry[0]


class JaxStepSession(_JaxBase, StepSession):
    """eager: jax.grad dispatched op by op; jit: the whole update compiled once."""

    def __init__(self, problem, inst, setup):
        super().__init__(problem, inst, setup)
        self.compiles = setup.mode == "jit"
        self.step_fn = self.jax.jit(self.update) if self.compiles else self.update
        self.reset()

    def reset(self):
        self.carry = (self.w0, self.state0)

    def step(self, record):
        self.carry, loss, g = self.step_fn(self.carry, self.data)
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

        def body(carry, _):
            carry, loss, g = update(carry, self.data)
            return carry, (loss, g, carry[0])

        # The step count is static for the recorded loop (it sizes the output)...
        self.scan = jax.jit(lambda c, n: jax.lax.scan(body, c, None, length=n), static_argnums=1)

        # ...and dynamic for the timed one, so that growing blocks do not recompile.
        def loop(carry, n):
            return jax.lax.fori_loop(0, n, lambda i, c: update(c, self.data)[0], carry)

        self.loop = jax.jit(loop)
        self.carry = (self.w0, self.state0)

    def trajectory(self, steps):
        _, (loss, g, w) = self.scan((self.w0, self.state0), steps)
        return Trajectory.from_steps(np.asarray(loss), np.asarray(g), np.asarray(w))

    def run_steps(self, n):
        self.carry = self.loop(self.carry, n)

    def compile_count(self):
        return self.loop._cache_size()


class JaxBackend(Backend):
    name = "jax"
    order = 3
    modes = ("jit", "eager", "scan")
    default_mode = "jit"
    requires = ("jax",)
    optimizers = None  # every one with an optax mapping (else NotMapped: skipped)

    def available(self):
        ok, why = super().available()
        if ok and importlib.util.find_spec("optax") is None:
            return False, "package not installed: optax (pip install 'gdbench[jax]')"
        return ok, why

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
