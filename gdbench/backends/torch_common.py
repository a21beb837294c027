"""What the two torch backends share: import, devices, precision, synchronisation."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from gdbench.backend import Backend, Mode
from gdbench.compat.arrays import namespace
from gdbench.compat.frameworks import import_torch
from gdbench.problem import step_batches

EAGER = Mode("eager", "op by op, as PyTorch runs by default")
NAIVE = Mode("naive", "op by op, X row-major and the plain X @ w product at every D")
COMPILE = Mode("compile", "torch.compile(fullgraph=True) of the step's loss", compiles=True)
CUDAGRAPH = Mode(
    "cudagraph",
    "torch.compile's reduce-overhead mode: the compiled step replayed as a CUDA graph",
    devices=("cuda",),
    compiles=True,
)
EAGER_MODES = (EAGER, NAIVE)  # op by op, nothing compiled


class TorchSessionMixin:
    """What the torch sessions share: data and w0 on the device, sync, compile bookkeeping."""

    batches: Sequence[dict] = ()

    def place(self, problem, inst, setup, column_major: bool = False) -> None:
        """Each step's data (``step_batches``) and w0 on the device; with ``column_major``
        each data matrix is stored column-major (see gdbench.backends.numpy_hand: both
        products then stream it)."""
        torch = self.torch = import_torch()
        dtype, device = torch_dtype(setup.dtype), setup.device

        def placed(v):
            t = torch.as_tensor(v, dtype=dtype, device=device)
            return t.t().contiguous().t() if column_major and t.ndim == 2 else t

        self.batches = [
            {k: placed(v) for k, v in batch.items()} for batch in step_batches(problem, inst)
        ]
        self.data = self.batches[0]
        # A copy: a float64 w0 on the CPU would otherwise share the instance's memory.
        self.w0 = torch.tensor(inst.w0, dtype=dtype, device=device)
        self.sync = sync_for(device)
        namespace(self.w0)  # imported now, outside any compiled loss
        self.compiles = setup.mode not in EAGER_MODES

    def compile_count(self):
        return compile_count() if self.compiles else 0

    def operations(self, steps, log):
        """torch.profiler over ``steps`` updates: each aten op (eager) or generated kernel
        (compiled; named once ``profiling`` enabled it) by self time, on CUDA the kernels'
        device time; bytes from the recorded input shapes plus the memory each op
        allocated (its results), unknown for generated kernels."""
        from torch.profiler import ProfilerActivity, profile

        cuda = self.w0.device.type == "cuda"
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        item = self.w0.element_size()
        self.sync()
        with profile(activities=activities, record_shapes=True, profile_memory=True) as prof:
            self.run_steps(steps)
            self.sync()
        for e in prof.key_averages(group_by_input_shape=True):
            seconds = (e.self_device_time_total if cuda else e.self_cpu_time_total) / 1e6
            if seconds <= 0:
                continue
            shapes = [tuple(x) for x in (e.input_shapes or []) if isinstance(x, list) and x]
            nbytes = None
            if shapes and e.key.startswith("aten::"):  # wrappers (CompiledFunction) move none
                read = e.count * sum(item * int(math.prod(x)) for x in shapes)
                nbytes = read + max(int(e.self_cpu_memory_usage), 0)
            text = " ".join(f"[{','.join(map(str, x))}]" for x in shapes)
            log.add(e.key, text, seconds, nbytes, calls=e.count)


class TorchBackend(Backend):
    """Base of the torch backends: devices and modes; subclasses build the session."""

    requires = ("torch", "array_api_compat")  # the torch extra installs both
    modes: tuple[str, ...] = (EAGER, COMPILE, CUDAGRAPH)
    default_mode = "eager"

    def device_available(self, device):
        if device == "cpu":
            return True, ""
        torch = import_torch()
        if device == "cuda" and torch.cuda.is_available():
            return True, ""
        return False, f"torch {torch.__version__} sees no CUDA device"

    def free_memory(self, device):
        torch = import_torch()
        if device != "cuda" or not torch.cuda.is_available():
            return None
        return int(torch.cuda.mem_get_info()[0])

    def process_environment(self):
        """glibc's mmap threshold raised for torch's processes: glibc maps every block over
        32 MiB afresh and the kernel page-faults it in at first touch, so each N-long eager
        temporary cost a fresh mapping; raised, freed blocks are reused from the heap, as
        jemalloc or tcmalloc (the PyTorch CPU tuning guide's advice) would. Measured by
        interleaved processes at N = 2.6e7 (bench/malloc_effect.py): torch eager 2.55×
        faster, fused unchanged, XLA's compiled loops 5× slower, NumPy eager unchanged; so
        torch's processes only. A user's own allocator settings are left as they are."""
        if any(k.startswith("MALLOC_") or k == "LD_PRELOAD" for k in os.environ):
            return {}
        return {"MALLOC_MMAP_THRESHOLD_": str(4 * 1024**3)}

    def profiling(self):
        # Inductor's CPU kernels then appear in torch.profiler under their own names.
        import_torch()
        import torch._inductor.config as inductor

        inductor.cpp.enable_kernel_profile = True

    def device_name(self, device):
        if device == "cuda":
            return import_torch().cuda.get_device_name()
        return super().device_name(device)


def compiled(fn, mode: str):
    """torch.compile for the `compile` mode; `cudagraph` adds CUDA-graph replay of the
    compiled step (torch.compile's reduce-overhead mode), which removes per-kernel launch
    cost on the GPU. One graph, static shapes: a recompilation would show in the counter."""
    torch = import_torch()
    if mode in EAGER_MODES:
        return fn
    # Each session compiles afresh: a run of many cells (optimizers × dtypes × sizes) would
    # otherwise pile guards onto one code object (a new module per cell) until dynamo's
    # recompile limit (8) fails the cell under fullgraph=True.
    torch._dynamo.reset()
    options: dict[str, object] = {"fullgraph": True, "dynamic": False}
    if mode == "cudagraph":
        options["mode"] = "reduce-overhead"
    return torch.compile(fn, **options)


def fresh_compile(fn, dynamic: bool | None = False):
    """torch.compile(fullgraph=True) of ``fn`` with dynamo's cache reset first (see
    ``compiled``)."""
    torch = import_torch()
    torch._dynamo.reset()
    return torch.compile(fn, fullgraph=True, dynamic=dynamic)


def compile_count() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def torch_dtype(name: str):
    return getattr(import_torch(), name)


def sync_for(device: str):
    """The synchronisation the timer needs before reading the clock."""
    torch = import_torch()
    if device == "cuda":
        return torch.cuda.synchronize
    return lambda: None
