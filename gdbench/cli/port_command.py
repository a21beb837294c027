"""`gdbench port FILE.py`: ``gdbench.port`` on the objects FILE.py defines; the table on
stdout, the files with ``--out``; exit 1 where a candidate disagrees or fails."""

from __future__ import annotations

from pathlib import Path


def main(args) -> int:
    from gdbench.errors import UsageError
    from gdbench.execution.options import check_out, make_out

    out = Path(args.out) if args.out else None
    if out is not None:
        check_out(out)
        existed = out.exists()
        make_out(out)  # writable, proven before any work
    try:
        return _checked(args, out)
    except UsageError:
        if out is not None and not existed and not any(out.iterdir()):
            out.rmdir()  # refused: nothing left behind
        raise


def _checked(args, out: Path | None) -> int:
    from gdbench.api.porting import port_file

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
