"""PyTorch nn/optim: an nn.Module, torch.optim.SGD, zero_grad() / backward() / step()."""

from __future__ import annotations

from gdbench.backend import StepSession, host
from gdbench.backends.torch_common import TorchBackend, import_torch, sync_for, torch_dtype
from gdbench.registry import register_backend


def param_module(problem, w0):
    """The generic nn form: one nn.Parameter, the problem's own loss as forward().

    Any module used here holds the problem's parameters as its single nn.Parameter.
    """
    torch = import_torch()

    class ParamLoss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(w0.clone())

        def forward(self, **data):
            return problem.loss(self.w, **data)

    return ParamLoss()


class TorchNNSession(StepSession):
    def __init__(self, problem, inst, setup):
        torch = self.torch = import_torch()
        dtype, device = torch_dtype(setup.dtype), setup.device
        self.data = {k: torch.as_tensor(v, dtype=dtype, device=device)
                     for k, v in inst.data.items()}
        self.w0 = torch.as_tensor(inst.w0, dtype=dtype, device=device)
        self.problem, self.lr = problem, setup.lr
        self.sync = sync_for(device)
        self.reset()

    def reset(self):
        # A problem may offer its idiomatic module (nn.Linear + nn.MSELoss for linreg).
        build = getattr(self.problem, "torch_nn_module", None)
        self.model = build(self.w0) if build else param_module(self.problem, self.w0)
        self.opt = self.torch.optim.SGD(self.model.parameters(), lr=self.lr)

    def step(self, record):
        self.opt.zero_grad()
        loss = self.model(**self.data)
        loss.backward()
        self.opt.step()
        if not record:
            return None
        (p,) = self.model.parameters()
        shape = self.w0.shape
        return loss.item(), host(p.grad.reshape(shape)), host(p.reshape(shape))


class TorchNNBackend(TorchBackend):
    name = "torch-nn"
    order = 2
    modes = ("eager",)

    def prepare(self, problem, inst, setup):
        return TorchNNSession(problem, inst, setup)


register_backend(TorchNNBackend())
