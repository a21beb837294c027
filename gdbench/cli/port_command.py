"""`gdbench port FILE.py`: ``gdbench.port`` on the objects FILE.py defines; the table on
stdout, the files with ``--out``; exit 1 where a candidate disagrees or fails."""

from __future__ import annotations

from pathlib import Path


def main(args) -> int:
    from gdbench.api.porting import port_file
    from gdbench.execution.options import check_out

    out = Path(args.out) if args.out else None
    if out is not None:
        check_out(out)
    options = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "rounds": args.rounds,
        "threads": args.threads,
    }
    result = port_file(
        args.file, {k: v for k, v in options.items() if v is not None}, timing=not args.no_timing
    )
    print(result)
    if out is not None:
        written = result.save(out)
        print(f"written to {out}: {', '.join(p.name for p in written)}")
    return 0 if result.ok else 1
