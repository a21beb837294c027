"""JAX: jax.value_and_grad and the optimizer's optax transformation, eager, jitted, or the
whole loop (optimizer state included) fused with lax.scan."""

from __future__ import annotations

import importlib.util
import time

import numpy as np

from gdbench.backend import Backend, Mode, Session, StepSession
from gdbench.compat.frameworks import import_jax, import_optax
from gdbench.problem import step_batches
from gdbench.registry import register_backend
from gdbench.timing.breakdown import operands
from gdbench.trajectory import Trajectory


def _device(jax, device):
    return jax.devices("gpu" if device == "cuda" else "cpu")[0]


class _JaxBase:
    def __init__(self, problem, inst, setup):
        jax = self.jax = import_jax()
        dev = self.dev = _device(jax, setup.device)
        self.host_batches = [
            {k: np.asarray(v, dtype=setup.dtype) for k, v in batch.items()}
            for batch in step_batches(problem, inst)
        ]
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
        jax = self.jax
        self.batches = [jax.device_put(b, self.dev) for b in self.host_batches]
        self.data = self.batches[0]
        del self.host_batches
        self.compiles = setup.mode == "jit"
        update = self.update

        def advance(carry, data):
            return update(carry, data)[0]

        # A recorded step returns the loss and gradient too; a timed one only the carry,
        # as NumPy's and scan's timed steps: a jitted step that must also return the loss
        # took 61 ms against 18 at N = 2.6e7, D = 1 (XLA then makes a separate pass for it).
        self.step_fn = self.jax.jit(update) if self.compiles else update
        self.advance = self.jax.jit(advance) if self.compiles else advance
        self.reset()

    def reset(self):
        self.carry = (self.w0, self.state0)

    def step(self, record):
        data = self.next_batch()
        if not record:
            self.carry = self.advance(self.carry, data)
            return None
        self.carry, loss, g = self.step_fn(self.carry, data)
        return float(loss), np.asarray(g, np.float64), np.asarray(self.w, np.float64)

    def compile_count(self):
        if not self.compiles:
            return 0
        return self.step_fn._cache_size() + self.advance._cache_size()

    def operations(self, steps, log):
        """eager: the step's jaxpr run one primitive at a time, each waited for, as eager
        JAX dispatches them; jit: XLA's compiled program as one operation."""
        if self.compiles:
            compiled_program(self.jax, self.advance, (self.carry, self.data), steps, log, self)
            return
        jax = self.jax
        from jax.extend.core import Literal

        closed, shapes = jax.make_jaxpr(self.update, return_shape=True)(self.carry, self.data)
        out_tree = jax.tree_util.tree_structure(shapes)  # (carry, loss, gradient)
        for _ in range(steps):
            env = dict(zip(closed.jaxpr.constvars, closed.consts, strict=True))
            leaves = jax.tree_util.tree_leaves((self.carry, self.data))
            env.update(zip(closed.jaxpr.invars, leaves, strict=True))
            for eqn in closed.jaxpr.eqns:
                ins = [v.val if isinstance(v, Literal) else env[v] for v in eqn.invars]
                params = eqn.primitive.get_bind_params(eqn.params)
                t0 = time.perf_counter()
                outs = eqn.primitive.bind(*ins, **params)
                jax.block_until_ready(outs)
                seconds = time.perf_counter() - t0
                outs = outs if eqn.primitive.multiple_results else [outs]
                env.update(zip(eqn.outvars, outs, strict=True))
                arrays = [x for x in (*ins, *outs) if hasattr(x, "nbytes")]
                nbytes = sum(int(x.nbytes) for x in arrays)
                log.add(eqn.primitive.name, operands(ins), seconds, nbytes)
            out = [env[v] if not isinstance(v, Literal) else v.val for v in closed.jaxpr.outvars]
            self.carry, _, _ = jax.tree_util.tree_unflatten(out_tree, out)


def compiled_program(jax, fn, args, steps, log, session, run=None) -> None:
    """One XLA program as one operation: its time over ``steps`` calls and the bytes XLA's
    cost analysis says it accesses."""
    analysis = fn.lower(*args).compile().cost_analysis()
    if isinstance(analysis, list):  # older jax: one dict per computation
        analysis = analysis[0] if analysis else {}
    nbytes = analysis.get("bytes accessed") if analysis else None
    session.sync()
    t0 = time.perf_counter()
    (run or session.run_steps)(steps)
    session.sync()
    seconds = time.perf_counter() - t0
    name = f"XLA program ({getattr(fn, '__name__', 'step')})"
    log.add(
        name,
        "bytes from XLA's cost analysis",
        seconds,
        None if nbytes is None else int(nbytes) * steps,
        calls=steps,
    )


class JaxScanSession(_JaxBase, Session):
    """scan: every step of the loop, trajectory included, fused into one device program."""

    compiles = True

    def __init__(self, problem, inst, setup):
        super().__init__(problem, inst, setup)
        jax, update = self.jax, self.update
        hosts = self.host_batches
        del self.host_batches
        nb = len(hosts)
        # Mini-batches travel stacked, (batches, B, …) per array, and step i takes batch
        # i mod their count inside the program; the whole data otherwise, as it is.
        if nb == 1:
            self.data = jax.device_put(hosts[0], self.dev)
        else:
            stacked = {k: np.stack([b[k] for b in hosts]) for k in hosts[0]}
            self.data = jax.device_put(stacked, self.dev)

        def pick(data, i):
            if nb == 1:
                return data
            return jax.tree_util.tree_map(lambda a: a[i % nb], data)

        self.pick = pick

        # The data are arguments of the compiled loops, not constants closed over: XLA
        # would otherwise embed N×D values in the program (bench/jax_data_arguments.py
        # measures both ways).
        def recorded(carry, data, n):
            def body(c, i):
                c, loss, g = update(c, pick(data, i))
                return c, (loss, g, c[0])

            steps = None if nb == 1 else jax.numpy.arange(n)
            return jax.lax.scan(body, carry, steps, length=n)

        # The step count is static for the recorded loop (it sizes the output)...
        self.scan = jax.jit(recorded, static_argnums=2)

        # ...and dynamic for the timed one, so that growing blocks do not recompile.
        def loop(carry, data, n):
            return jax.lax.fori_loop(0, n, lambda i, c: update(c, pick(data, i))[0], carry)

        self.loop = jax.jit(loop)
        self.carry = (self.w0, self.state0)

    def trajectory(self, steps):
        _, (loss, g, w) = self.scan((self.w0, self.state0), self.data, steps)
        return Trajectory.from_steps(np.asarray(loss), np.asarray(g), np.asarray(w))

    def run_steps(self, n):
        self.carry = self.loop(self.carry, self.data, n)

    def compile_count(self):
        return self.loop._cache_size()

    def operations(self, steps, log):
        """The fused loop as one XLA program; bytes by XLA's cost analysis of one step's
        body (the loop's own analysis counts a while loop's body once)."""
        step = self.jax.jit(lambda c, data: self.update(c, self.pick(data, 0))[0])
        compiled_program(self.jax, step, (self.carry, self.data), steps, log, self, self.run_steps)


class JaxBackend(Backend):
    name = "jax"
    order = 3
    modes = (
        Mode("jit", "jax.jit of the whole update step (value_and_grad + optax)", compiles=True),
        Mode("eager", "the step's jaxpr run one primitive at a time, each waited for"),
        Mode(
            "scan",
            "every step of the loop, trajectory included, fused with lax.scan into one program",
            compiles=True,
        ),
    )
    default_mode = "jit"
    requires = ("jax",)
    packages = ("jax", "jaxlib", "optax")
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

    def free_memory(self, device):
        """The GPU's memory limit less what XLA's allocator holds (``memory_stats``);
        None where the device gives no statistics."""
        if device != "cuda":
            return None
        stats = _device(import_jax(), device).memory_stats() or {}
        if "bytes_limit" not in stats:
            return None
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))

    def device_name(self, device):
        if device == "cuda":
            return _device(import_jax(), device).device_kind
        return super().device_name(device)

    def prepare(self, problem, inst, setup):
        if setup.mode == "scan":
            return JaxScanSession(problem, inst, setup)
        return JaxStepSession(problem, inst, setup)


register_backend(JaxBackend())
