"""A gdbench plugin: an MLP with LayerNorm and exact GELU under AdamW, the block people port
between PyTorch and JAX, and a JAX port with the mistake such ports make.

    python -m gdbench run --plugin examples/layernorm_gelu.py --problem ln-gelu-mlp \\
        --backend torch-autograd,jax,jax-tanh-gelu --optimizer adamw --lr 1e-3 --steps 40

The problem: D-H-K (``layers``, default 64-128-10) with ``x → gelu(LayerNorm(x·W1ᵀ + b1))
·W2ᵀ + b2``, LayerNorm's gain and bias learnt (ε = 1e-5, torch's), exact GELU
``0.5·z·(1 + erf(z/√2))`` (``nn.GELU()``'s default), softmax cross-entropy on labels of a
random teacher, 512 rows, batches of 64. No hand-derived gradient: the autodiff backends
run it (numpy's cells are skipped).

``jax-tanh-gelu`` is JAX with ``jax.nn.gelu``'s default, the tanh approximation, in place of
the exact GELU: under AdamW its trajectory ends about 2e-3 from the float64 reference,
where a faithful port ends below 1e-6. The other port mistake, optax.adamw's own weight
decay 1e-4 where torch.optim.AdamW's is 0.01, is ``--native-defaults`` on ``jax``.
"""

import math

import numpy as np

import gdbench
from gdbench.compat.products import split_blocks


class LayerNormGeluMLP(gdbench.Problem):
    name = "ln-gelu-mlp"
    description = "MLP D-H-K, LayerNorm + exact GELU, softmax cross-entropy (AdamW ports)"
    default_lr = 1e-3
    default_steps = 40
    options = (
        gdbench.Hyper("layers", "64-128-10", doc="widths D-H-K"),
        gdbench.Hyper("batch", 64, 1, 2**20, doc="rows per step", integer=True),
        gdbench.Hyper("gelu", "exact", doc="erf (nn.GELU()) or tanh", choices=("exact", "tanh")),
    )
    N = 512

    def widths(self) -> list[int]:
        return [int(v) for v in str(self.opt["layers"]).split("-")]

    def sizes(self) -> dict[str, int]:
        d, h, k = self.widths()
        return {"W1": h * d, "b1": h, "gain": h, "shift": h, "W2": k * h, "b2": k}

    def layout(self, inst):
        out, start = {}, 0
        for name, size in self.sizes().items():
            out[name] = slice(start, start + size)
            start += size
        return out

    def param_count(self, features):
        return sum(self.sizes().values())

    def fixed_features(self):
        return self.widths()[0]

    def batch_size(self, inst):
        return int(self.opt["batch"])

    def make(self, n_samples=None, features=None, seed=0):
        d, h, k = self.widths()
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((self.N, d))
        teacher = rng.standard_normal((d, k)) / np.sqrt(d)
        labels = np.argmax(X @ teacher + 0.5 * rng.standard_normal((self.N, k)), axis=1)
        w0 = np.concatenate(
            [
                rng.uniform(-1, 1, h * d) / np.sqrt(d),  # nn.Linear's initialisation
                rng.uniform(-1, 1, h) / np.sqrt(d),
                np.ones(h),  # LayerNorm's
                np.zeros(h),
                rng.uniform(-1, 1, k * h) / np.sqrt(h),
                rng.uniform(-1, 1, k) / np.sqrt(h),
            ]
        )
        data = {"X": X, "Y": np.eye(k)[labels]}
        return gdbench.Instance(self.name, w0=w0, data=data, n_samples=self.N, seed=seed)

    def gelu(self, xp, z):
        if self.opt["gelu"] == "tanh":  # jax.nn.gelu(approximate=True), its default
            c = math.sqrt(2.0 / math.pi)
            return 0.5 * z * (1.0 + xp.tanh(c * (z + 0.044715 * z**3)))
        return 0.5 * z * (1.0 + xp.erf(z / math.sqrt(2.0)))

    def loss(self, w, X, Y):
        xp = gdbench.namespace(w)
        d, h, k = self.widths()
        W1, b1, gain, shift, W2, b2 = split_blocks(w, list(self.sizes().values()))
        Z = X @ W1.reshape(h, d).T + b1
        mu = xp.mean(Z, axis=1, keepdims=True)
        var = xp.mean((Z - mu) ** 2, axis=1, keepdims=True)
        A = self.gelu(xp, (Z - mu) / xp.sqrt(var + 1e-5) * gain + shift)
        logits = A @ W2.reshape(k, h).T + b2
        m = xp.max(logits, axis=1, keepdims=True)
        lse = m[:, 0] + xp.log(xp.sum(xp.exp(logits - m), axis=1))
        return (lse - xp.sum(Y * logits, axis=1)).mean()


JAX = type(gdbench.backends()["jax"])


class TanhGeluPort(JAX):
    """JAX, running the problem with the tanh GELU: the port's mistake."""

    name = "jax-tanh-gelu"
    description = "JAX with jax.nn.gelu's default (tanh approximation) for exact GELU"

    def prepare(self, problem, inst, setup):
        if "gelu" in problem.opt:
            problem = problem.configured({**problem.opt, "gelu": "tanh"})
        return super().prepare(problem, inst, setup)


gdbench.register_problem(LayerNormGeluMLP())
gdbench.register_backend(TanhGeluPort())
