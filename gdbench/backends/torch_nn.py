"""PyTorch nn/optim: an nn.Module, the optimizer's own torch.optim class (for-loop path,
foreach=False), zero_grad() / backward() / step()."""

from __future__ import annotations

import inspect

from gdbench.backend import StepSession, host
from gdbench.backends.torch_common import (
    TorchBackend,
    TorchSessionMixin,
    compiled,
    import_torch,
)
from gdbench.optimizer import call_text
from gdbench.registry import register_backend


def param_module(problem, w0):
    """The generic nn form: one nn.Parameter, the problem's own loss as forward().

    A problem's own module (``torch_nn_module``) may hold several parameters: their
    flattened concatenation, in ``parameters()`` order, is the problem's parameter vector.
    """
    torch = import_torch()

    class ParamLoss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(w0.clone())

        def forward(self, **data):
            return problem.loss(self.w, **data)

    return ParamLoss()


def load_vector(flat, params) -> None:
    """Copies a flat parameter vector into ``params`` (in order). A copy, not
    torch.nn.utils.vector_to_parameters, which would make them views of ``flat``, and so
    of the instance's own w0 wherever torch.as_tensor shared its memory."""
    torch = import_torch()
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(flat.reshape(-1)[offset : offset + n].view_as(p))
            offset += n


class TorchNNSession(TorchSessionMixin, StepSession):
    def __init__(self, problem, inst, setup):
        self.place(problem, inst, setup)
        # A problem may offer its idiomatic module (nn.Linear + nn.MSELoss for linreg); one
        # whose shape depends on the data (the classifier's D and K) takes them too.
        build = getattr(problem, "torch_nn_module", None)
        if build is None:
            self.module = param_module(problem, self.w0)
        elif "data" in inspect.signature(build).parameters:
            self.module = build(self.w0, data=self.data)
        else:
            self.module = build(self.w0)
        # One flat vector of every parameter, in the order of module.parameters(): the
        # problem's own layout (linreg's weight, the MLP's W1, b1, W2, b2), loaded here
        # from w0 whatever the module was initialised with.
        self.params = list(self.module.parameters())
        load_vector(self.w0, self.params)
        self.model = compiled(self.module, setup.mode)
        self.opt, self.optimizer_used = setup.optimizer.torch_optimizer(
            self.module.parameters(), setup.lr, setup.hyper, setup.native
        )
        # Every argument the instance holds; fused=None is torch's "not fused".
        held = {k: bool(v) if k == "fused" else v for k, v in self.opt.defaults.items()}
        self.optimizer_impl = call_text(f"torch.optim.{type(self.opt).__name__}", held)
        self.reset()

    def reset(self):
        load_vector(self.w0, self.params)
        for p in self.params:
            p.grad = None
        self.opt.state.clear()  # moments and step counts start again with the trajectory

    def step(self, record):
        self.opt.zero_grad()
        loss = self.model(**self.next_batch())
        loss.backward()
        self.opt.step()
        if not record:
            return None
        shape = self.w0.shape
        torch = self.torch
        grad = torch.cat([p.grad.reshape(-1) for p in self.params]).reshape(shape)
        w = torch.nn.utils.parameters_to_vector(self.params).reshape(shape)
        return loss.item(), host(grad), host(w)


class TorchNNBackend(TorchBackend):
    name = "torch-nn"
    preload = ("torch.optim", "torch._dynamo")  # torch.optim's first step brings _dynamo
    order = 2
    optimizers = None  # every one with a torch.optim mapping (else NotMapped: skipped)

    def prepare(self, problem, inst, setup):
        return TorchNNSession(problem, inst, setup)


register_backend(TorchNNBackend())
