"""The RunSpec contract: everything that defines one run (one row of summary.csv)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RunSpec:
    """One cell of a run: problem × backend × mode × device × dtype, with its settings.

    ``data`` is "default" for the problem's own instance (the notebook's data) or
    "generated" for data made from ``n_samples``, ``features`` and ``seed``; the sizes are
    the instance's real ones either way.
    """

    problem: str
    backend: str
    mode: str
    device: str
    dtype: str
    lr: float
    steps: int
    n_samples: int = 0
    features: int = 1
    seed: int = 0
    data: str = "default"

    def key(self) -> tuple:
        """What identifies a finished cell when a run is resumed."""
        return (
            self.problem,
            self.backend,
            self.mode,
            self.device,
            self.dtype,
            float(self.lr),
            int(self.steps),
            int(self.n_samples),
            int(self.features),
            int(self.seed),
            self.data,
        )

    def instance_args(self) -> tuple:
        return (self.problem, self.data, self.n_samples, self.features, self.seed)

    def asdict(self) -> dict:
        return asdict(self)
