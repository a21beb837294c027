"""The RunSpec contract: everything that defines one run (one row of summary.csv)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def _as(type_name, value):
    """``value`` as the field type named (annotations are text here)."""
    if value is None:
        return None
    return _TYPES.get(str(type_name), lambda v: v)(value)


@dataclass(frozen=True)
class RunSpec:
    """One cell of a run: problem × optimizer × backend × mode × device × dtype, with its
    settings.

    ``optimizer_args`` is the JSON of every hyperparameter of gdbench's specification
    (sorted keys); ``native_defaults`` says that the framework-native backends were built
    with only the hyperparameters the user gave (``--native-defaults``).

    ``data`` is "default" for the problem's own instance (the notebook's data),
    "generated" for data made from ``n_samples``, ``features`` and ``seed``, or
    "file:<sha256 prefix>[+standardized]" for the user's ``--data`` (its content, not its
    name); the sizes are the instance's real ones either way. ``problem_args`` is the JSON
    of the problem's settings (``--problem-opt``).
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
    optimizer: str = "sgd"
    optimizer_args: str = '{"weight_decay": 0.0}'
    native_defaults: bool = False
    problem_args: str = "{}"

    @classmethod
    def from_row(cls, row: dict) -> RunSpec:
        """The spec of a CSV row; folders written before a field existed get its default."""
        values = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        for text in ("problem_args", "optimizer_args"):  # missing (NaN) in older folders
            if not isinstance(values.get(text), str) or not values[text]:
                values.pop(text, None)
        if "native_defaults" in values:
            values["native_defaults"] = str(values["native_defaults"]).lower() in ("true", "1")
        return cls(**values)

    def key(self) -> tuple:
        """What identifies a finished cell when a run is resumed: every field, as its type
        (a CSV gives 20.0 where a spec has 20)."""
        return tuple(_as(f.type, getattr(self, f.name)) for f in fields(self))

    def label(self, problem: str | None = None) -> str:
        """The cell in one line, as progress lines, heartbeats and ``compare`` name it
        (``problem``: its name with the settings a sweep varies, where given)."""
        opt = f"{self.optimizer} (native)" if self.native_defaults else self.optimizer
        return (
            f"{problem or self.problem} N={self.n_samples} D={self.features} {opt} "
            f"{self.backend}/{self.mode} {self.device} {self.dtype}"
        )

    def instance_args(self) -> tuple:
        return (
            self.problem,
            self.data,
            self.n_samples,
            self.features,
            self.seed,
            self.problem_args,
        )

    def reference_args(self) -> tuple[tuple, float, int, str, str]:
        """What the float64 reference depends on (never the backend, nor native defaults)."""
        return (self.instance_args(), self.lr, self.steps, self.optimizer, self.optimizer_args)

    def asdict(self) -> dict:
        return asdict(self)
