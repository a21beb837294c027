"""The measurement behind the agreement rule for adaptive optimizers (docs/agreement.md).

For each adaptive optimizer, long float32 runs of every backend against the float64
reference: where the reference's gradient first reaches the float32 noise floor, how far
the strict rule would put the run (max deviation over the tolerance), and what the
two-phase rule says. Run: python bench/adaptive_agreement.py
"""

from __future__ import annotations

from gdbench import registry
from gdbench.backend import Setup
from gdbench.numerics.agreement import compare, judge, tolerance
from gdbench.numerics.reference import reference_trajectory
from gdbench.optimizer import NotMapped

CASES = [
    # problem, sizes, lr, steps
    ("quadratic", {}, 0.1, 400),
    ("linreg", {}, 0.01, 1000),
    ("linreg", {"n_samples": 300, "features": 4, "seed": 3}, 0.05, 1000),
]


def main() -> None:
    print(
        "problem  N×D  optimizer  backend  noise_from  strict: max dev / tol, first bad  "
        "two-phase: verdict"
    )
    for pname, sizes, lr, steps in CASES:
        p = registry.problems()[pname]
        inst = p.make(**sizes)
        n_el = inst.n_samples * inst.features or 1
        tol = tolerance("float32", steps, n_el)
        for oname, opt in registry.optimizers().items():
            if not opt.adaptive:
                continue
            hp = opt.resolve({})
            ref, _ = reference_trajectory(p, inst, lr, steps, opt, hp)
            for bname in ("numpy", "torch-nn", "jax"):
                b = registry.backends()[bname]
                setup = Setup(lr, "float32", "cpu", b.default_mode, opt, hp)
                try:
                    traj = b.prepare(p, inst, setup).trajectory(steps)
                except NotMapped as exc:  # optax × adagrad with the spec's eps
                    print(f"{pname} {oname} {bname} skipped: {exc}")
                    continue
                strict = compare(traj, ref, tol)
                two = judge(traj, ref, "float32", steps, n_el, opt, hp, lr)
                print(
                    f"{pname} {inst.n_samples}×{inst.features} {oname} {bname} "
                    f"{two.noise_from_step or '-'}  {strict.max_rel_dev / tol:.3g}, "
                    f"{strict.first_bad_step or '-'}  "
                    f"{'agrees' if two.agrees else 'DISAGREES ' + two.detail}"
                )


if __name__ == "__main__":
    main()
