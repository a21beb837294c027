"""A multi-layer perceptron classifier at training scale: softmax cross-entropy over K
classes, trained on mini-batches.

``layers=D-H1-…-K`` gives the widths, input first (default 784-1024-1024-10, the JAX and
optax MNIST examples' network); generated data take D from ``--features`` where it is
given, ``--data`` takes D and K from the file. Hidden layers apply ``activation`` (relu or
tanh), the last layer gives the logits Z, and

    loss = mean over the batch of logsumexp(Z_b) − Z_b[y_b]

(``nn.CrossEntropyLoss``'s). Each step sees ``batch`` rows, by the seeded schedule of
``gdbench.problem.step_batches`` that every backend and the reference follow.

The parameters are one flat vector [W1 (H1×D, row-major), b1, W2, b2, …, WL, bL], the order
of ``nn.Sequential(nn.Linear(D, H1), act, …, nn.Linear(H_{L-1}, K)).parameters()``, so
every backend and optimizer runs it unchanged. Initialised from the seed: W ~ N(0, 2/fan_in)
before a relu (He), N(0, 1/fan_in) otherwise; biases 0. Generated data: X ~ N(0, 1), labels
argmax(X·T + N(0, 1)) of a random teacher T ~ N(0, 1/D) (D×K), so the classes are learnable.
The labels travel one-hot (Y, N×K), so every array is a float of the run's dtype.
"""

from __future__ import annotations

import itertools

import numpy as np

from gdbench.compat.arrays import namespace
from gdbench.compat.products import split_blocks
from gdbench.hyper import Hyper
from gdbench.problem import Instance, Problem
from gdbench.registry import register_problem

MAX_WIDTH = 65536


def parse_layers(text: str) -> str:
    """``D-H…-K``: at least two whole widths, each 1 to 65,536; K at least 2."""
    parts = text.split("-")
    try:
        widths = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"layers takes widths joined by '-' (784-1024-10), got {text!r}") from None
    if len(widths) < 2 or any(not 1 <= n <= MAX_WIDTH for n in widths):
        raise ValueError(f"layers needs at least two widths, each 1 to {MAX_WIDTH}, got {text!r}")
    if widths[-1] < 2:
        raise ValueError(f"layers: a classifier needs at least 2 classes, got {text!r}")
    return "-".join(map(str, widths))


class Classifier(Problem):
    name = "classifier"
    description = "MLP classifier, softmax cross-entropy, mini-batches; hand backprop for NumPy"
    order = 6
    default_lr = 0.1
    default_steps = 20
    sized = True
    default_n_samples = 1024
    default_features = 784
    takes_data = True
    default_run = False  # its default step is ~1.4 GFLOP: named, or --problem all
    options = (
        Hyper("layers", "784-1024-1024-10", doc="widths D-H…-K", check=parse_layers),
        Hyper("batch", 128, 1, 2**24, doc="rows per step (at most N)", integer=True),
        Hyper("activation", "relu", doc="of the hidden layers", choices=("relu", "tanh")),
    )

    # The widths --------------------------------------------------------------------------
    @property
    def widths(self) -> list[int]:
        return [int(n) for n in str(self.opt["layers"]).split("-")]

    def widths_for(self, d: int, k: int | None = None) -> list[int]:
        """The network's widths with input D = ``d`` (and K = ``k`` where given)."""
        w = self.widths
        return [d, *w[1:-1], w[-1] if k is None else k]

    def sizes(self, widths: list[int]) -> list[int]:
        """The flat vector's blocks: W1, b1, W2, b2, … (nn.Sequential's parameter order)."""
        out = []
        for fan_in, fan_out in itertools.pairwise(widths):
            out += [fan_out * fan_in, fan_out]
        return out

    def fixed_features(self) -> int:
        return self.widths[0]

    def layout(self, inst: Instance) -> dict[str, slice]:
        """W1, b1, W2, b2, …: nn.Sequential's parameters, in the flat vector's order."""
        widths = self.widths_for(inst.features, inst.data["Y"].shape[1])
        out, start = {}, 0
        for i, size in enumerate(self.sizes(widths)):
            name = f"{'Wb'[i % 2]}{i // 2 + 1}"
            out[name] = slice(start, start + size)
            start += size
        return out

    def param_count(self, features: int) -> int:
        return sum(self.sizes(self.widths_for(features)))

    def unpack(self, w, widths: list[int]):
        """[(W, b), …] per layer, W (out, in)."""
        blocks = split_blocks(w, self.sizes(widths))
        shapes = list(zip(widths[1:], widths, strict=False))
        return [(blocks[2 * i].reshape(shape), blocks[2 * i + 1]) for i, shape in enumerate(shapes)]

    def init(self, widths: list[int], rng) -> np.ndarray:
        relu = self.opt["activation"] == "relu"
        parts = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            gain = 2.0 if relu and i < len(widths) - 2 else 1.0
            parts += [rng.standard_normal(fan_out * fan_in) * np.sqrt(gain / fan_in)]
            parts += [np.zeros(fan_out)]
        return np.concatenate(parts)

    # Instances ---------------------------------------------------------------------------
    def batch_size(self, inst):
        return int(self.opt["batch"])

    def make(self, n_samples=None, features=None, seed=0) -> Instance:
        n = n_samples or self.default_n_samples
        widths = self.widths_for(features or self.widths[0])
        d, k = widths[0], widths[-1]
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d))
        teacher = rng.standard_normal((d, k)) / np.sqrt(d)
        labels = np.argmax(X @ teacher + rng.standard_normal((n, k)), axis=1)
        w0 = self.init(widths, rng)
        data = {"X": X, "Y": np.eye(k)[labels]}
        return Instance(self.name, w0=w0, data=data, n_samples=n, seed=seed)

    def from_data(self, X, y, seed=0) -> Instance:
        """The user's data: labels are classes (whole numbers, each class its own value,
        mapped in sorted order to 0…K−1); D and K come from the data."""
        classes, labels = np.unique(y, return_inverse=True)
        if not np.all(classes == np.round(classes)):
            raise ValueError("labels must be whole numbers (classes)")
        if len(classes) < 2:
            raise ValueError(f"labels must take at least two values, got {len(classes)}")
        widths = self.widths_for(X.shape[1], len(classes))
        w0 = self.init(widths, np.random.default_rng(seed))
        data = {"X": X, "Y": np.eye(len(classes))[labels]}
        return Instance(self.name, w0=w0, data=data, n_samples=len(y), seed=seed)

    # The loss and its gradient -----------------------------------------------------------
    def _act(self, xp, Z):
        # relu as a where, not maximum(Z, 0): at a tie (Z = 0 exactly, as where a row's
        # every input unit is dead and the biases are still 0) autodiff then gives the
        # derivative 0 that nn.ReLU and the hand-derived Z > 0 give; maximum's is ½.
        return xp.tanh(Z) if self.opt["activation"] == "tanh" else xp.where(Z > 0, Z, Z * 0)

    def loss(self, w, X, Y):
        xp = namespace(w)
        layers = self.unpack(w, self.widths_for(X.shape[1], Y.shape[1]))
        A = X
        for i, (W, b) in enumerate(layers):
            Z = A @ W.T + b
            A = self._act(xp, Z) if i < len(layers) - 1 else Z
        m = xp.max(A, axis=1, keepdims=True)
        lse = m[:, 0] + xp.log(xp.sum(xp.exp(A - m), axis=1))
        return (lse - xp.sum(Y * A, axis=1)).mean()

    def grad(self, w, X, Y):
        """Backpropagation by hand: ∂L/∂Z_L = (softmax(Z_L) − Y)/B, then per layer
        ∂W = ∂Zᵀ·A_prev, ∂b = Σ ∂Z, and ∂Z_prev = ∂Z·W ⊙ act'(Z_prev) (relu': Z > 0,
        tanh': 1 − A²)."""
        layers = self.unpack(w, self.widths_for(X.shape[1], Y.shape[1]))
        tanh = self.opt["activation"] == "tanh"
        acts = [X]
        for W, b in layers[:-1]:
            Z = acts[-1] @ W.T + b
            acts.append(np.tanh(Z) if tanh else np.maximum(Z, 0))
        Z = acts[-1] @ layers[-1][0].T + layers[-1][1]
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        dZ = (P - Y) / len(Y)
        grads = []
        for i in range(len(layers) - 1, -1, -1):
            W = layers[i][0]
            grads[:0] = [(dZ.T @ acts[i]).ravel(), dZ.sum(axis=0)]
            if i:
                A = acts[i]
                dZ = (dZ @ W) * ((1 - A * A) if tanh else (A > 0))
        return np.concatenate(grads)

    def diagnose(self, inst, hand, truth) -> str | None:
        """Names the layers whose blocks are wrong (the classic backprop slips are local)."""
        widths = self.widths_for(inst.data["X"].shape[1], inst.data["Y"].shape[1])
        sizes = self.sizes(widths)
        names = [f"{kind}{i // 2 + 1}" for i, kind in enumerate(["W", "b"] * (len(sizes) // 2))]
        start, wrong = 0, []
        scale = float(np.abs(truth).max()) or 1.0
        for name, n in zip(names, sizes, strict=True):
            s = slice(start, start + n)
            if not np.allclose(hand[s], truth[s], rtol=1e-6, atol=1e-12 * scale):
                wrong.append(name)
            start += n
        if not wrong or len(wrong) == len(names):
            return None
        return f"the gradients of {', '.join(wrong)} are wrong, the others right"

    # The cost model ----------------------------------------------------------------------
    def _step_widths(self, inst) -> tuple[int, list[int]]:
        X, Y = inst.data["X"], inst.data["Y"]
        b = min(self.batch_size(inst), len(X))
        return b, self.widths_for(X.shape[1], Y.shape[1])

    def gemm_flops(self, inst) -> int:
        """The matrix products of one step, 2·M·N·K each: forward Z = A·Wᵀ per layer,
        backward ∂W = ∂Zᵀ·A per layer and ∂A = ∂Z·W for every layer but the first (the
        data need no gradient): 6·B·Σ fan_in·fan_out − 2·B·D·H1, so about 6·B·P."""
        b, widths = self._step_widths(inst)
        macs = [i * o for i, o in itertools.pairwise(widths)]
        return 2 * b * (3 * sum(macs) - macs[0])

    def flops_per_step(self, inst):
        """The GEMMs, plus per row the bias adds (forward and ∂b) and the activation and its
        derivative (2 each) of every hidden unit, and ~6·K for the softmax and its
        gradient; the optimizer's few operations per parameter are not counted."""
        b, widths = self._step_widths(inst)
        hidden = sum(widths[1:-1])
        return self.gemm_flops(inst) + b * (2 * sum(widths[1:]) + 4 * hidden + 6 * widths[-1])

    def bytes_per_step(self, inst, itemsize):
        """The least traffic of a step: the batch (X and Y) read once, the parameters read
        by the forward pass and again by the backward pass, the gradient written, and w and
        the gradient read and w written by the update (6·P); the optimizer's state is
        added apart (``state_bytes_per_step``), activations are not counted."""
        b, widths = self._step_widths(inst)
        return itemsize * (b * (widths[0] + widths[-1]) + 6 * sum(self.sizes(widths)))

    def state_bytes_per_step(self, inst, itemsize, state_arrays):
        """Each optimizer state array (Adam's m and v) read and written once: 2·P each."""
        _, widths = self._step_widths(inst)
        return itemsize * 2 * state_arrays * sum(self.sizes(widths))

    def torch_nn_module(self, w0, data):
        """nn.Sequential(nn.Linear, act, …, nn.Linear) + nn.CrossEntropyLoss on the class
        indices (Y's argmax), for the data's D and K."""
        from torch import nn

        widths = self.widths_for(data["X"].shape[1], data["Y"].shape[1])
        act = nn.Tanh if self.opt["activation"] == "tanh" else nn.ReLU
        mods: list = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            mods += [nn.Linear(fan_in, fan_out)] + ([act()] if i < len(widths) - 2 else [])

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(*mods)
                self.ce = nn.CrossEntropyLoss()

            def forward(self, X, Y):
                return self.ce(self.net(X), Y.argmax(dim=1))

        return Net().to(dtype=w0.dtype, device=w0.device)


register_problem(Classifier())
