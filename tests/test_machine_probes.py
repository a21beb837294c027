"""The machine probes' overrides, and the command line's error paths on every machine of the
project's kind and beyond: a 32, 48 or 260 MiB last-level cache (AMD EPYC, Intel Xeons) or
1 GiB, and 8, 24 or 256 GiB of memory. On the 260 MiB Xeon the `roof` size once hit the
memory cap and said so on stderr before the usage error, which then took two lines."""

from __future__ import annotations

import pandas as pd
import pytest

from gdbench.cli.commands import main
from gdbench.compat import machine
from gdbench.errors import UsageError

CACHES = ["32MiB", "48MiB", "260MiB", "1GiB"]
MEMORIES = ["8GiB", "24GiB", "256GiB"]

# Bad command lines, each with what its one line must say. Sweeps default to
# `--n-samples …,roof`, so the roof size is computed before most of these are found.
BAD_INPUT = [
    (["run", "--n-samples", "1e3,1e4"], "use sweep for lists"),
    (["run", "--n-samples", "1e12", "--features", "100"], "GiB"),
    (["sweep", "--n-samples", "1e3,abc"], "--n-samples must be positive whole numbers or roof"),
    (["sweep", "--features", "0"], "--features must be a positive whole number"),
    (["run", "--rounds", "0"], "--rounds must be a positive whole number"),
    (["sweep", "--rounds", "101"], "--rounds must be at most 100"),
    (["sweep", "--n-samples", "roof", "--features", "1,16", "--steps", "0"], "--steps"),
    (["sweep", "--n-samples", "roof", "--threads", "9999"], "--threads 9999"),
    (["sweep", "--n-samples", "roof", "--backend", "tensorflow"], "unknown backend"),
    (["run", "--n-samples", "roof", "--lr", "1e39"], "--lr=1e+39 cannot be represented"),
    (["gradcheck", "--problem", "cubic"], "unknown problem 'cubic'"),
    (["report"], "the following arguments are required: folder"),
]


@pytest.mark.parametrize("memory", MEMORIES)
@pytest.mark.parametrize("cache", CACHES)
def test_error_paths_say_one_line_on_every_machine(cache, memory, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(machine.LLC_VAR, cache)
    monkeypatch.setenv(machine.MEMORY_VAR, memory)
    for i, (argv, needle) in enumerate(BAD_INPUT):
        out = tmp_path / f"o{i}"
        extra = ["--out", str(out)] if argv[0] in ("run", "sweep") else []
        assert main([*argv, *extra]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, (argv, err)
        assert not out.exists(), argv


def test_the_roof_cap_is_said_once_for_a_run_that_goes_ahead(tmp_path, capsys, monkeypatch):
    # 260 MiB of cache would need N = 1.4e8 at D = 1; 256 MiB of memory allows 870000.
    monkeypatch.setenv(machine.LLC_VAR, "260MiB")
    monkeypatch.setenv(machine.MEMORY_VAR, "256MiB")
    argv = ["sweep", "--problem", "linreg", "--n-samples", "roof", "--features", "1,2"]
    argv += ["--backend", "numpy", "--mode", "eager", "--no-timing", "--steps", "2"]
    assert main([*argv, "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if line.startswith("--n-samples roof:")]
    assert len(said) == 1
    # N ≤ 0.6 · 256 MiB / (8 · (3·D + 20)) at two digits, down: 875407 → 870000 at D = 1,
    # 772418 → 770000 at D = 2; X and y would need 4 · 260 MiB / (4 · (D + 1)) + 1.
    assert "D=1 would need N=140000000; this machine's memory allows 870000" in said[0]
    assert "D=2 would need N=91000000; this machine's memory allows 770000" in said[0]
    rows = pd.read_csv(tmp_path / "s" / "sweep.csv")
    assert sorted(set(zip(rows.n_samples, rows.features, strict=True))) == [
        (770000, 2),
        (870000, 1),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("33554432", 32 * 1024**2),
        ("32MiB", 32 * 1024**2),
        ("260 MiB", 260 * 1024**2),
        ("1GiB", 1024**3),
        ("1.5GiB", 3 * 1024**3 // 2),
        ("512K", 512 * 1024),
        ("8G", 8 * 1024**3),
    ],
)
def test_sizes_read_in_bytes_or_binary_units(text, expected):
    assert machine.parse_size(text, "X") == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (machine.LLC_VAR, "lots"),
        (machine.LLC_VAR, "0"),
        (machine.MEMORY_VAR, "-8GiB"),
        (machine.MEMORY_VAR, "8 potatoes"),
        (machine.CPUS_VAR, "two"),
        (machine.CPUS_VAR, "0"),
    ],
)
def test_a_bad_override_is_one_line_naming_it(name, value, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(UsageError, match=name):
        (machine.last_level_cache_bytes(), machine.physical_memory(), machine.available_cpus())
    argv = ["sweep", "--problem", "linreg", "--backend", "numpy", "--no-timing"]
    assert main([*argv, "--threads", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and name in err
    assert not (tmp_path / "o").exists()


def test_overrides_replace_the_probes(monkeypatch):
    monkeypatch.setenv(machine.LLC_VAR, "260MiB")
    monkeypatch.setenv(machine.MEMORY_VAR, "256GiB")
    monkeypatch.setenv(machine.CPUS_VAR, "64")
    assert machine.last_level_cache_bytes() == 260 * 1024**2
    assert machine.physical_memory() == 256 * 1024**3
    assert machine.available_cpus() == 64
    for name in (machine.LLC_VAR, machine.MEMORY_VAR, machine.CPUS_VAR):
        monkeypatch.delenv(name)
    # Unset: the machine's own (sysfs, sysconf, the affinity mask).
    assert machine.last_level_cache_bytes() >= 1024**2
    assert machine.physical_memory() >= 1024**3
    assert machine.available_cpus() >= 1
