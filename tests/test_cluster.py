"""`--cluster`: real Dask clusters on this machine, a LocalCluster of worker processes and a
scheduler with two `dask worker` processes started here, never a mock of the engine."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from gdbench.cli.commands import main
from gdbench.results.schema import read_results

from .conftest import DATA, require

pytestmark = [require("distributed")]  # slow: tests/conftest.py

PLUGINS = str(DATA / "cluster_backends.py")
SWEEP = ["sweep", "--problem", "linreg", "--n-samples", "1e3,1e5", "--features", "1"]
SWEEP += ["--dtype", "float32", "--mode", "eager"]


def cells(folder, name="sweep.csv"):
    df = read_results(folder / name)
    keys = ["problem", "backend", "mode", "device", "dtype", "n_samples", "features"]
    return df.set_index(keys).sort_index()


# --- the engine's defaults that gdbench must handle (facts about Dask, checked here) -----


def _start_child():
    import multiprocessing

    p = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    p.start()
    p.join()
    return "started"


def test_the_engine_defaults_gdbench_works_around():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        # The Nanny pins the BLAS/OpenMP pools to one thread in every worker …
        env = client.run(lambda: os.environ.get("OMP_NUM_THREADS"))
        assert set(env.values()) == {"1"}
        # … and its worker is a daemon, which cannot start multiprocessing children.
        with pytest.raises(AssertionError, match="daemonic"):
            client.submit(_start_child, pure=False).result()
        # Its sampling profiler and its retries are on by default.
        import dask

        on = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
        assert set(on.values()) == {True}
        assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) > 0


def test_the_local_cluster_gdbench_starts_turns_them_off():
    import dask

    from gdbench.execution.cluster import ClusterChoice, connect, workers_of

    with connect(ClusterChoice(local_workers=2)) as client:
        assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == 0
        on = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
        assert set(on.values()) == {False}
        limits = client.run(lambda dask_worker: dask_worker.memory_manager.memory_limit)
        assert set(limits.values()) == {None}  # no memory monitor to kill a cell's worker
        assert [w.nthreads for w in workers_of(client)] == [1, 1]


def test_a_timed_cell_gets_gdbench_threads_in_its_own_non_daemon_process(tmp_path):
    import tempfile
    from pathlib import Path

    def plugin_folders():
        return set(Path(tempfile.gettempdir()).glob("gdbench-plugins-*"))

    before = plugin_folders()
    out = tmp_path / "probe"
    argv = ["run", "--cluster", "local:1", "--plugin", PLUGINS, "--backend", "probe"]
    argv += ["--problem", "quadratic", "--threads", "2", "--time-budget", "0.05", "--rounds", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    row = read_results(out / "summary.csv").iloc[0]
    impl = dict(kv.split("=") for kv in row["optimizer_impl"].split()[1:])
    assert impl["omp"] == "2" and row["threads"] == 2  # not the Nanny's 1
    # The Nanny's worker is a daemon (test above): a non-daemon process is not the worker,
    # so the timed code ran outside it, beyond its profiler, and could start children.
    assert impl["daemon"] == "False"
    # The plug-in backend's process environment reaches the cell on the cluster too (the
    # Dask worker never loads the plug-in: the driver sends its variables with the task).
    assert impl["env"] == "from-the-plug-in"
    assert int(impl["ppid"]) != os.getpid()  # nor in this driver
    assert row["worker"].startswith("tcp://") and row["host"]
    assert row["time_per_step_s"] > 0 and row["attempts"] == 1
    samples = read_results(out / "samples.csv")
    assert len(samples) == row["repeats"] and row["rounds"] == 2
    assert sorted(samples["round"].unique()) == [1, 2]  # the second round on the same host
    assert plugin_folders() <= before  # each task's copy of the plug-ins is removed


# --- the same cells as at home -------------------------------------------------------------


@pytest.fixture(scope="module")
def home_and_cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cl")
    base = [*SWEEP, "--backend", "numpy,jax,torch-autograd", "--mode", "eager,jit"]
    base += ["--no-timing"]
    assert main([*base, "--out", str(root / "home")]) == 0
    assert main([*base, "--cluster", "local:2", "--out", str(root / "cluster")]) == 0
    return root


def test_a_local_cluster_sweep_gives_the_same_cells_and_verdicts(home_and_cluster):
    home, cluster = cells(home_and_cluster / "home"), cells(home_and_cluster / "cluster")
    assert list(home.index) == list(cluster.index) and len(home) == 8  # jax: jit and eager
    for col in ("status", "verdict", "agrees", "steps_run", "tol"):
        assert list(home[col]) == list(cluster[col]), col
    assert (cluster.max_rel_dev - home.max_rel_dev).abs().max() <= 1e-6
    assert (home.worker == "local").all()
    assert cluster.worker.str.startswith("tcp://").all() and cluster.host.notna().all()
    assert (cluster.attempts == 1).all()
    assert (home_and_cluster / "cluster" / "report.md").exists()


def test_a_timed_cluster_sweep_writes_its_step_profile_and_one_machine_json(tmp_path):
    import json

    out = tmp_path / "timed"
    argv = [*SWEEP, "--n-samples", "1e3,1e4", "--backend", "numpy", "--time-budget", "0.05"]
    assert main([*argv, "--cluster", "local:1", "--out", str(out)]) == 0
    machine = json.loads((out / "machine.json").read_text())
    host = read_results(out / "sweep.csv").host.iloc[0]
    assert list(machine) == ["hosts"] and list(machine["hosts"]) == [host]
    assert machine["hosts"][host]["cpu"]["gbps"] > 0
    profile = read_results(out / "breakdown.csv")
    assert set(profile.n_samples) == {10000} and (profile.backend == "numpy").all()
    assert "Where the time goes" in (out / "report.md").read_text()
    df = read_results(out / "sweep.csv")
    assert (df.bandwidth_gbps == machine["hosts"][host]["cpu"]["gbps"]).all()


def test_timed_cells_that_could_overlap_are_refused(tmp_path, capsys):
    argv = ["run", "--cluster", "local:2", "--problem", "quadratic", "--backend", "numpy"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "share its CPUs" in err and "--no-timing" in err and "\n" not in err
    assert not (tmp_path / "o").exists()  # refused: the folder it made is gone again


@pytest.mark.parametrize(
    "value, message",
    [
        ("local:0", "local:N"),
        ("local:x", "local:N"),
        ("my-laptop", "scheduler address"),
        ("tcp://127.0.0.1:9", "no scheduler answers"),
    ],
)
def test_bad_cluster_values_are_one_line(tmp_path, capsys, monkeypatch, value, message):
    from gdbench.execution import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)  # the same error, 8 s sooner
    argv = ["run", "--cluster", value, "--problem", "quadratic", "--backend", "numpy"]
    assert main([*argv, "--no-timing", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_without_dask_cluster_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an absent extra looks like
    argv = ["run", "--cluster", "local:1", "--problem", "quadratic", "--no-timing"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert "gdbench[cluster]" in capsys.readouterr().err


def test_a_killed_worker_of_gdbench_local_cluster_gives_an_error_row(tmp_path, monkeypatch):
    monkeypatch.setenv("GDBENCH_TEST_KILL_MARKER", str(tmp_path / "killed"))
    out = tmp_path / "k"
    argv = ["run", "--cluster", "local:1", "--plugin", PLUGINS, "--backend", "killer"]
    argv += ["--problem", "quadratic", "--no-timing", "--out", str(out)]
    assert main(argv) == 1
    row = read_results(out / "summary.csv").iloc[0]
    assert row["status"] == "error" and "worker died" in row["reason"]
    assert "not run again" in row["reason"]


# --- a scheduler and two workers started by hand ------------------------------------------


@pytest.fixture
def scheduler(tmp_path, monkeypatch):
    """`dask scheduler` and two `dask worker --nthreads 1` processes, as a user starts them;
    its address. The kill marker makes the `killer` backend kill one worker once."""
    monkeypatch.setenv("GDBENCH_TEST_KILL_MARKER", str(tmp_path / "killed"))
    file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [
        subprocess.Popen(
            [*dask, "--scheduler-file", str(file), "--port", "0", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        worker = [sys.executable, "-m", "distributed.cli.dask_worker", "--nthreads", "1"]
        worker += ["--no-dashboard", "--memory-limit", "0"]
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [*worker, "--scheduler-file", str(file)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        with Client(scheduler_file=str(file), timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
            address = client.scheduler.address
        yield address
    finally:
        # The workers are killed (a graceful shutdown took 8 s a test), the scheduler last.
        for p in procs[:0:-1]:
            p.kill()
        procs[0].terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_a_scheduler_started_by_hand_records_the_retry(scheduler, tmp_path):
    out = tmp_path / "s"
    argv = [*SWEEP, "--cluster", scheduler, "--plugin", PLUGINS, "--backend", "numpy,killer"]
    assert main([*argv, "--no-timing", "--out", str(out)]) == 0
    df = cells(out)
    assert len(df) == 4 and (df.status == "ok").all()
    assert df.worker.nunique() >= 1 and df.worker.str.startswith("tcp://").all()
    killed = df[df.attempts > 1]
    # The killer's one cell that killed its worker, run again on a worker still alive; the
    # cells only queued on the lost worker say they were requeued, not that they ran twice.
    assert len(killed) == 1 and killed.index.get_level_values("backend").tolist() == ["killer"]
    assert killed.reason.str.contains("a worker died running it before").all()
    others = df[df.attempts == 1].reason.fillna("")
    assert not others.str.contains("died running it").any()


def test_an_interrupted_cluster_sweep_resumes_without_duplicates(scheduler, tmp_path):
    out = tmp_path / "r"
    argv = [*SWEEP, "--n-samples", "1e3,1e4,1e5", "--cluster", scheduler]
    argv += ["--plugin", PLUGINS, "--backend", "numpy,sleepy", "--no-timing", "--out", str(out)]
    driver = subprocess.Popen(
        [sys.executable, "-m", "gdbench", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and driver.poll() is None:
        if (out / "sweep.csv").exists() and len(read_results(out / "sweep.csv")) >= 1:
            break
        time.sleep(0.1)
    driver.kill()
    driver.wait()
    before = len(read_results(out / "sweep.csv"))
    assert 1 <= before < 6, "the sweep was not interrupted mid-way"
    assert main(["sweep", "--resume", str(out), "--cluster", scheduler]) == 0
    df = read_results(out / "sweep.csv")
    keys = ["backend", "mode", "n_samples"]
    assert len(df) == 6 and not df.duplicated(subset=keys).any()
    assert (df.status == "ok").all()
