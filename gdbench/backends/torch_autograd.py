"""PyTorch autograd: loss.backward(), the optimizer's update (gdbench's specification, in
torch ops, not torch.optim) under torch.no_grad(), gradient zeroed.

Mode ``eager`` stores each data matrix column-major once at set-up and uses
``gdbench.compat.products.matvec`` at D = 1 (whose backward is then a scaling and a sum instead of
the slow one-column ``X.T @ r``); ``naive`` keeps the data row-major with plain ``X @ w``,
the notebook's form, so that the difference is measured.

Mode ``fused``: the whole update step (loss, its gradient by ``torch.func.grad_and_value``
and the optimizer's update) is one ``torch.compile``d function of the parameters, the
optimizer state and the data, all passed as arguments (not constants baked into the graph),
so forward, backward and update fuse where the compiler can; ``compile`` compiles the loss
only and leaves the update eager."""

from __future__ import annotations

import contextlib

from gdbench.backend import Mode, StepSession, host
from gdbench.backends.torch_common import (
    COMPILE,
    CUDAGRAPH,
    EAGER,
    NAIVE,
    TorchBackend,
    TorchSessionMixin,
    compiled,
    fresh_compile,
)
from gdbench.compat.products import plain
from gdbench.registry import register_backend


class TorchAutogradSession(TorchSessionMixin, StepSession):
    def __init__(self, problem, inst, setup):
        self.place(problem, inst, setup, column_major=setup.mode == "eager")
        self.products = plain if setup.mode == "naive" else contextlib.nullcontext
        self.lr, self.opt, self.hp = setup.lr, setup.optimizer, setup.hyper
        # compile/cudagraph: forward and (through AOTAutograd) backward are compiled; the
        # update of w stays one eager in-place op, as in the idiomatic loop.
        self.loss_fn = compiled(problem.loss, setup.mode)
        self.reset()

    def reset(self):
        self.w = self.w0.clone().requires_grad_(True)
        self.state = self.opt.init(self.w0.clone(), self.hp)

    def step(self, record):
        w = self.w
        with self.products():
            loss = self.loss_fn(w, **self.next_batch())
            loss.backward()
        with self.torch.no_grad():
            new, self.state = self.opt.update(w.grad, self.state, w, self.lr, self.hp)
            w.copy_(new)
        out = (loss.item(), host(w.grad), host(w)) if record else None
        w.grad.zero_()
        return out


class FusedStepSession(TorchSessionMixin, StepSession):
    """One compiled function per update step: w, state, data in; w, state, loss, grad out."""

    def __init__(self, problem, inst, setup):
        self.place(problem, inst, setup)
        torch = self.torch
        opt, hp, lr = setup.optimizer, setup.hyper, setup.lr

        def update(w, state, data):
            g, loss = torch.func.grad_and_value(lambda v: problem.loss(v, **data))(w)
            new, state = opt.update(g, state, w, lr, hp)
            return new, state, loss, g

        # dynamic=None: a Python step count in the state (Adam's t) becomes a symbolic
        # integer after one recompilation, during warm-up, instead of one graph per step.
        self.update = fresh_compile(update, dynamic=None)
        self.opt, self.hp = opt, hp
        self.reset()

    def reset(self):
        self.w = self.w0.clone()
        self.state = self.opt.init(self.w0.clone(), self.hp)

    def step(self, record):
        self.w, self.state, loss, g = self.update(self.w, self.state, self.next_batch())
        return (loss.item(), host(g), host(self.w)) if record else None


class TorchAutogradBackend(TorchBackend):
    name = "torch-autograd"
    order = 1
    optimizers = None  # every one, through its specification
    modes = (
        EAGER,
        NAIVE,
        COMPILE,
        Mode(
            "fused",
            "the whole update step, optimizer included, in one torch.compile'd function",
            compiles=True,
        ),
        CUDAGRAPH,
    )

    def prepare(self, problem, inst, setup):
        if setup.mode == "fused":
            return FusedStepSession(problem, inst, setup)
        return TorchAutogradSession(problem, inst, setup)


register_backend(TorchAutogradBackend())
