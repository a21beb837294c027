"""PyTorch autograd: loss.backward(), the optimizer's update (gdbench's specification, in
torch ops, not torch.optim) under torch.no_grad(), gradient zeroed."""

from __future__ import annotations

from gdbench.backend import StepSession, host
from gdbench.backends.torch_common import (
    TorchBackend,
    TorchSessionMixin,
    compiled,
)
from gdbench.registry import register_backend


class TorchAutogradSession(TorchSessionMixin, StepSession):
    def __init__(self, problem, inst, setup):
        self.place(inst, setup)
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
        loss = self.loss_fn(w, **self.data)
        loss.backward()
        with self.torch.no_grad():
            new, self.state = self.opt.update(w.grad, self.state, w, self.lr, self.hp)
            w.copy_(new)
        out = (loss.item(), host(w.grad), host(w)) if record else None
        w.grad.zero_()
        return out


class TorchAutogradBackend(TorchBackend):
    name = "torch-autograd"
    order = 1
    optimizers = None  # every one, through its specification

    def prepare(self, problem, inst, setup):
        return TorchAutogradSession(problem, inst, setup)


register_backend(TorchAutogradBackend())
