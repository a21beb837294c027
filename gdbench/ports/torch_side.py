"""A PyTorch implementation driven as a ``Runner``: a copy of the user's module, cast to
the run's dtype, trained by the user's optimizer factory and loss."""

from __future__ import annotations

import copy
import time

import numpy as np

from gdbench.compat.frameworks import import_torch
from gdbench.ports.mapping import Link
from gdbench.ports.runner import Arrays, PortError


def shapes(model) -> dict[str, tuple]:
    return {n: tuple(p.shape) for n, p in model.named_parameters()}


class TorchRunner:
    def __init__(self, model, optimizer, loss, links: list[Link], compile: bool = False):
        self.model, self.make_optimizer, self.loss = model, optimizer, loss
        self.links, self.compile = links, compile

    # Copies and conversions --------------------------------------------------------------
    def load(self, batches, dtype: str) -> None:
        torch = import_torch()
        self.torch = torch
        tdt = getattr(torch, dtype)
        self.net = copy.deepcopy(self.model).to(tdt)
        self.params = dict(self.net.named_parameters())
        first = next(iter(self.params.values()), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self.fn = torch.compile(self.net) if self.compile else self.net
        self.first_s: float | None = None  # the first step: compilation, first touch

        def tensor(a, floating):
            t = torch.as_tensor(np.ascontiguousarray(a), device=self.device)
            return t.to(tdt) if floating else t

        self.batches = [
            (tensor(x, True), tensor(y, np.issubdtype(np.asarray(y).dtype, np.floating)))
            for x, y in batches
        ]

    def _set(self, weights: Arrays) -> None:
        with self.torch.no_grad():
            for link in self.links:
                value = np.asarray(weights[link.name])
                value = value.T if link.transpose else value
                p = self.params[link.key]
                p.copy_(self.torch.as_tensor(np.ascontiguousarray(value)).to(p.dtype))

    def _arrays(self, tensors: dict) -> Arrays:
        out = {}
        for link in self.links:
            t = tensors[link.key]
            a = np.zeros(tuple(self.params[link.key].shape)) if t is None else t.detach()
            a = a.cpu().numpy() if hasattr(a, "cpu") else a
            out[link.name] = a.T if link.transpose else a
        return out

    # The Runner --------------------------------------------------------------------------
    def start(self, weights: Arrays) -> None:
        self._set(weights)
        self.optimizer = self.make_optimizer(self.net.parameters())

    def _loss(self, k: int):
        x, y = self.batches[k % len(self.batches)]
        out = self.fn(x)
        loss = self.loss(out, y)
        if getattr(loss, "ndim", 0) != 0:
            raise PortError(f"the loss returns shape {tuple(loss.shape)}, not a scalar")
        return loss, out

    def step(self, k: int):
        t0 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss, out = self._loss(k)
        loss.backward()
        grads = self._arrays({n: p.grad for n, p in self.params.items()})
        self.optimizer.step()
        if self.first_s is None:
            self.first_s = time.perf_counter() - t0
        return float(loss.detach()), grads, out.detach().cpu().numpy()

    def weights(self) -> Arrays:
        return self._arrays(self.params)

    def forward(self, weights: Arrays, k: int) -> np.ndarray:
        self._set(weights)
        with self.torch.no_grad():
            return self.fn(self.batches[k % len(self.batches)][0]).cpu().numpy()

    def gradient(self, weights: Arrays, k: int) -> Arrays:
        self._set(weights)
        for p in self.params.values():
            p.grad = None
        self._loss(k)[0].backward()
        return self._arrays({n: p.grad for n, p in self.params.items()})

    def replay(self, weights: Arrays, grads: Arrays) -> Arrays:
        self._set(weights)
        for link in self.links:
            g = np.asarray(grads[link.name])
            g = g.T if link.transpose else g
            p = self.params[link.key]
            p.grad = self.torch.as_tensor(np.ascontiguousarray(g)).to(p.dtype)
        self.optimizer.step()
        return self.weights()

    def session(self, steps: int):
        return _Session(self, steps)


class _Session:
    """Training steps as the timer takes them: the step's work only (no copies out)."""

    def __init__(self, runner: TorchRunner, steps: int):
        self.r, self.k = runner, 0

    def sync(self) -> None:
        if self.r.device.type == "cuda":
            self.r.torch.cuda.synchronize(self.r.device)

    def run_steps(self, n: int) -> None:
        r = self.r
        for _ in range(n):
            r.optimizer.zero_grad(set_to_none=True)
            r._loss(self.k)[0].backward()
            r.optimizer.step()
            self.k += 1

    def warmup(self) -> float:
        t0 = time.perf_counter()
        self.run_steps(3)  # torch.compile compiles here, and the allocator settles
        self.sync()
        return time.perf_counter() - t0

    def compile_count(self) -> int:
        return 0
