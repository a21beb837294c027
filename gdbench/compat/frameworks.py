"""The one place torch and JAX are imported and configured (lazily, on first use).

Everything that needs a framework (backends, references, gradient checks, the bandwidth
probe) goes through here, so that lower layers never import a backend module.
"""

from __future__ import annotations

import functools


@functools.cache
def import_torch():
    import torch

    # Full float32 matmuls on every device (no TF32), so GPU trajectories still agree.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch


@functools.cache
def import_jax():
    import jax

    # float64 needs x64; float32 arrays stay float32 as long as dtypes are explicit.
    jax.config.update("jax_enable_x64", True)
    # Full float32 matmuls on every device (no TF32 / bf16 passes), so GPU runs agree.
    jax.config.update("jax_default_matmul_precision", "highest")
    return jax


@functools.cache
def import_optax():
    import_jax()  # configured before optax builds anything
    import optax

    return optax
