"""Grading on a Dask cluster: same grades as the local pool, resume, a lost worker, Slurm job scripts."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("dask_jobqueue")

from course_utils.instructor import demo  # noqa: E402
from course_utils.instructor.__main__ import main  # noqa: E402
from course_utils.instructor.distributed import SlurmOptions, dask_backend, slurm_cluster  # noqa: E402
from course_utils.instructor.grade import Limits, grade_folder  # noqa: E402
from tests.conftest import GOOD, TINY_CHECKS  # noqa: E402
from tests.test_demo_table import readme_demo_rows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"seconds", "host", "worker", "wall_seconds", "resumed"}  # the columns that may differ between runs


def _notebook(*sources: str) -> dict:
    cells = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": s}
             for s in sources]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _summary(out: Path, drop: set[str] = TIMING) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text(encoding="utf-8"))))
    return [{k: v for k, v in row.items() if k not in drop} for row in rows]


@pytest.fixture
def tiny(tmp_path):
    """A checks file and a folder of tiny submissions (one right, one wrong, one slow)."""
    (tmp_path / "tiny.py").write_text(TINY_CHECKS)
    subs = tmp_path / "subs"
    subs.mkdir()
    notebooks = {"good": GOOD, "wrong": (GOOD[0], "def double(x):\n    return 3 * x", "report.record('answer', 41)"),
                 "slow": (*GOOD[:2], "import time\ntime.sleep(8)", GOOD[2])}
    for name, cells in notebooks.items():
        (subs / f"{name}.ipynb").write_text(json.dumps(_notebook(*cells)), encoding="utf-8")
    return tmp_path


def _grade_tiny(root: Path, out: str, **kwargs):
    return grade_folder(root / "subs", root / "tiny.py", root / out, reference_notebook=root / "none.ipynb",
                        limits=Limits(timeout=120, cell_timeout=30), **kwargs)


@pytest.mark.network
def test_local_cluster_gives_the_same_grades_as_the_local_pool_on_the_demo_submissions(tmp_path):
    """Notebook 01's demo submissions (reference, release, a bug, moved cells) through 2 Dask workers."""
    subs = tmp_path / "subs"
    order = demo.demo_submissions("01_pca", subs)
    checks, limits = ROOT / "grading" / "01_pca.py", Limits(timeout=600, cell_timeout=120)
    local = grade_folder(subs, checks, tmp_path / "local", workers=2, limits=limits)
    backend = dask_backend(limits, cluster="local", workers=2, processes=False)
    try:
        remote = grade_folder(subs, checks, tmp_path / "dask", executor=backend, limits=limits, transfer="bytes")
    finally:
        backend.close()
    assert [g.points for g in local] == [g.points for g in remote]
    assert (tmp_path / "local" / "grades.csv").read_bytes() == (tmp_path / "dask" / "grades.csv").read_bytes()
    assert _summary(tmp_path / "local") == _summary(tmp_path / "dask")
    reference = next(g for g in remote if g.student == "reference")
    assert reference.points == sum(r.max_points for r in reference.results if not r.pending) > 0  # full marks
    assert all(g.worker.startswith("inproc://") for g in remote), [g.worker for g in remote]
    assert all(g.worker.startswith("local pid") for g in local)
    # What grade-demo checks: full marks for the reference, and each catalogued bug costs its own points only.
    by_name = {g.student: g for g in local}
    rows = [demo.demo_row(name, by_name[name]) for name in order]
    assert demo.problems(rows) == [], [(row.submission, row.lost_text) for row in rows]
    assert len([row for row in rows if row.submission.startswith("bug_")]) >= 6
    assert rows[1].submission == "untouched_release" and rows[1].points == 0
    unrecognised = [name for name in order if name.startswith("bug_")
                    and not any(r.hint for r in by_name[name].results)]
    assert unrecognised == [], "every catalogued bug of 01 gets a hint in its feedback"
    readme = readme_demo_rows()  # README's demo table shows what grading gives now
    assert [(readme[("01_pca", r.submission)]["points"], readme[("01_pca", r.submission)]["loses"]) for r in rows] == [
        (f"{r.points:g}", r.lost_text) for r in rows]


def test_resume_skips_graded_submissions_and_regrades_changed_ones(tiny):
    first = {g.student: g for g in _grade_tiny(tiny, "out", workers=2)}
    assert first["good"].points == 3 and first["wrong"].points == 0 and first["slow"].points == 3
    records = sorted(p.name for p in (tiny / "out" / "records").iterdir())
    assert records == ["good.json", "slow.json", "wrong.json"]
    # Wrong resubmits a fixed notebook; the others are unchanged and must not run again.
    (tiny / "subs" / "wrong.ipynb").write_text(json.dumps(_notebook(*GOOD)), encoding="utf-8")
    start = time.perf_counter()
    second = {g.student: g for g in _grade_tiny(tiny, "out", workers=2, resume=True)}
    assert time.perf_counter() - start < 60
    assert second["good"].resumed and second["slow"].resumed and not second["wrong"].resumed
    assert second["wrong"].points == 3
    rows = {row["student"]: row for row in _summary(tiny / "out", drop=set())}
    assert rows["good"]["resumed"] == "yes" and rows["wrong"]["resumed"] == ""
    assert rows["good"]["wall_seconds"] == str(first["good"].wall), "a resumed record keeps its timing"
    # A changed limit changes every key: nothing is resumed.
    third = grade_folder(tiny / "subs", tiny / "tiny.py", tiny / "out", reference_notebook=tiny / "none.ipynb",
                         limits=Limits(timeout=121, cell_timeout=30), resume=True, workers=2)
    assert not any(g.resumed for g in third)


def test_a_worker_killed_mid_batch_costs_a_retry_not_the_batch(tiny):
    """Kill a worker process while it grades: the scheduler re-runs its submission on another worker."""
    limits = Limits(timeout=120, cell_timeout=30)
    backend = dask_backend(limits, cluster="local", workers=2, processes=True, retries=2)
    killed: dict[str, str] = {}

    def kill_a_busy_worker() -> None:
        pids = backend.client.run(os.getpid)
        for _ in range(600):
            busy = [address for address, keys in backend.client.processing().items() if keys]
            if busy:
                time.sleep(3)  # well inside the sandbox run of the submission (8 s for "slow")
                busy = [address for address, keys in backend.client.processing().items() if keys]
                if busy:
                    killed["address"] = busy[0]
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    try:
        grades = {g.student: g for g in _grade_tiny(tiny, "out", executor=backend)}
    finally:
        killer.join(timeout=5)
        backend.close()
    assert killed, "no worker was busy long enough to be killed"
    assert {s: g.points for s, g in grades.items()} == {"good": 3, "slow": 3, "wrong": 0}
    assert all(g.run.status == "ok" for g in grades.values())
    assert killed["address"] not in {g.worker for g in grades.values()}


def test_slurm_job_script_carries_the_limits():
    cluster = slurm_cluster(SlurmOptions(cores=8, memory="64GiB", walltime="03:30:00", queue="gpu",
                                         account="cs-teaching", extra=("--gres=gpu:1",)),
                            Limits(memory=8 * 1024**3))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p gpu", "#SBATCH -A cs-teaching", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64G",
                 "#SBATCH -t 03:30:00", "#SBATCH --gres=gpu:1", "--nthreads 8", "--memory-limit 64.00GiB"):
        assert line in script, (line, script)


def test_slurm_memory_must_cover_the_submissions_at_their_limit():
    with pytest.raises(ValueError, match="--slurm-memory 16GiB is less than 4 cores x --memory 8 GiB"):
        slurm_cluster(SlurmOptions(cores=4, memory="16GiB"), Limits(memory=8 * 1024**3))


def test_cli_refuses_scheduler_and_cluster_together(tiny, capsys):
    code = main(["grade", str(tiny / "tiny.py"), str(tiny / "subs"), "--out", str(tiny / "o"),
                 "--scheduler", "tcp://127.0.0.1:1", "--cluster", "local"])
    assert code == 2 and "not both" in capsys.readouterr().err


SLURM_DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def slurm(tmp_path_factory, monkeypatch):
    """A one-node Slurm cluster (MUNGE, slurmctld, slurmd) on private ports and folders, stopped afterwards.

    Needs root and the Debian packages ``slurmctld slurmd munge`` (``tools/install_slurm.sh``, run by
    ``make env``); skipped with the reason otherwise. The grader's Dask workers run as Slurm jobs here.
    """
    import shutil
    import subprocess

    missing = [name for name in SLURM_DAEMONS if not shutil.which(name) and not Path("/usr/sbin", name).exists()]
    if missing or os.geteuid() != 0 or not Path("/etc/munge/munge.key").exists():
        pytest.skip(f"no local Slurm cluster can be started here (root: {os.geteuid() == 0}, missing: "
                    f"{missing or 'none'}); as root: apt-get install slurmctld slurmd munge")
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    os.chmod(folder, 0o755)
    socket_path = folder / "munge.sock"
    node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    config = folder / "slurm.conf"
    config.write_text("\n".join([
        "ClusterName=coursekit", f"SlurmctldHost={os.uname().nodename}", "SlurmUser=root", "SlurmdUser=root",
        "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={socket_path}",
        f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}", f"StateSaveLocation={folder}/state",
        f"SlurmdSpoolDir={folder}/spool", f"SlurmctldPidFile={folder}/slurmctld.pid",
        f"SlurmdPidFile={folder}/slurmd.pid", f"SlurmctldLogFile={folder}/slurmctld.log",
        f"SlurmdLogFile={folder}/slurmd.log", "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "SchedulerType=sched/builtin", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "ReturnToService=2", "MpiDefault=none", f"{node} State=UNKNOWN",
        "PartitionName=grading Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""]))
    started = []
    try:
        started.append(subprocess.Popen(["munged", "-F", "--force", "-S", str(socket_path), "--key-file",
                                         "/etc/munge/munge.key", "--log-file", str(folder / "munged.log"),
                                         "--pid-file", str(folder / "munged.pid"), "--seed-file",
                                         str(folder / "munged.seed")]))
        for _ in range(300):  # the socket appears once munged is ready
            if socket_path.exists():
                break
            time.sleep(0.1)
        started.append(subprocess.Popen(["slurmctld", "-D", "-c", "-f", str(config)]))
        started.append(subprocess.Popen(["slurmd", "-D", "-f", str(config)]))
        monkeypatch.setenv("SLURM_CONF", str(config))
        monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the jobs' workers import this checkout
        for _ in range(600):  # generous: slurmctld on a loaded machine
            state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            log = (folder / "slurmctld.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"the one-node Slurm cluster did not become idle (sinfo: {state!r}); slurmctld.log: {log}")
        yield folder
    finally:
        subprocess.run(["scancel", "--user", "root"], capture_output=True)
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_real_slurm_cluster_gives_the_same_grades_as_the_local_pool(tiny, slurm):
    """Dask workers started as jobs of a one-node Slurm cluster grade the tiny submissions as the local pool."""
    limits = Limits(timeout=600, cell_timeout=300, memory=1024**3)
    common = {"reference_notebook": tiny / "none.ipynb", "limits": limits}
    local = grade_folder(tiny / "subs", tiny / "tiny.py", tiny / "local", workers=2, **common)
    backend = dask_backend(limits, cluster="slurm", workers=1, wait=300.0,
                           slurm=SlurmOptions(cores=2, memory="2GiB", walltime="00:30:00", queue="grading",
                                              extra=(f"--output={slurm}/job-%j.out",)))  # not in the checkout
    try:
        on_slurm = grade_folder(tiny / "subs", tiny / "tiny.py", tiny / "slurm", executor=backend,
                                transfer="bytes", **common)
    finally:
        backend.close()
    assert [(g.student, g.points) for g in on_slurm] == [(g.student, g.points) for g in local]
    assert {g.run.status for g in on_slurm} == {"ok"}
    assert _summary(tiny / "slurm") == _summary(tiny / "local")
    assert all(g.worker.startswith("tcp://") for g in on_slurm), [g.worker for g in on_slurm]
    log = (slurm / "slurmctld.log").read_text(errors="replace")
    jobs = [path.read_text(errors="replace") for path in slurm.glob("job-*.out")]
    assert "JobId=" in log and jobs, "the workers did not run as Slurm jobs"
    assert any("distributed.worker" in text or "Start worker" in text for text in jobs), jobs[0][-2000:]
