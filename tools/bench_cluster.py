"""Benchmark: the local pool against a Dask LocalCluster on N equal submissions, same run (not a test).

    .venv/bin/python tools/bench_cluster.py [--exercise 01_pca] [--copies 8] [--workers 2]

Grades ``--copies`` copies of the exercise's reference solution twice: with the local pool of
``--workers`` sandboxes and through a ``LocalCluster`` of ``--workers`` worker processes (one submission
at a time each). Both backends are warmed up first (each worker makes its read-only batch view once,
timed separately as the per-worker set-up). Prints both wall times, the scheduler's overhead per
submission and the ratio, then estimates the wall time of 500 submissions of each notebook on 50
workers from the per-submission times: measured here for ``--exercise``, quoted from README for the
others (the README's small-profile figures) unless ``--measured NN_topic=SECONDS`` gives one.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import importlib.util
import math
import shutil
import statistics
import time
from pathlib import Path

from course_utils.instructor.batch import LocalBackend
from course_utils.instructor.distributed import dask_backend
from course_utils.instructor.grade import BatchFolders, Limits, grade_folder

ROOT = Path(__file__).resolve().parents[1]
QUOTED = {"01_pca": 3.0, "03_mnist_vae": 75.0, "07_landmark_vae": 47.0}  # README, small profile, s per submission


def _demo():
    spec = importlib.util.spec_from_file_location("grade_demo", ROOT / "tools" / "grade_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _copies(reference: Path, folder: Path, count: int, prefix: str) -> Path:
    folder.mkdir(parents=True)
    for number in range(count):
        shutil.copy(reference, folder / f"{prefix}_{number:03d}.ipynb")
    return folder


def _timed(backend, submissions: Path, checks: Path, out: Path, limits: Limits) -> tuple[float, list]:
    start = time.perf_counter()
    grades = grade_folder(submissions, checks, out, executor=backend, limits=limits)
    return time.perf_counter() - start, grades


def _dispatch(executor: cf.Executor, data: bytes, tasks: int = 200) -> float:
    """Seconds per task of ``tasks`` no-op tasks that carry ``data`` (a submission's bytes) there and back."""
    start = time.perf_counter()
    for future in [executor.submit(len, data) for _ in range(tasks)]:
        future.result()
    return (time.perf_counter() - start) / tasks


def estimate(seconds: float, overhead: float, setup: float, submissions: int = 500, workers: int = 50) -> float:
    """Wall time of ``submissions`` on ``workers`` single-slot workers: set-up, then full rounds."""
    return setup + math.ceil(submissions / workers) * (seconds + overhead)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exercise", default="01_pca")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="build/bench-grading")
    parser.add_argument("--measured", action="append", default=[], metavar="NN_topic=SECONDS",
                        help="a per-submission time measured elsewhere (replaces the quoted one)")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    checks = ROOT / "grading" / f"{args.exercise}.py"
    limits = Limits(timeout=1800, cell_timeout=600)
    _demo().demo_submissions(args.exercise, out / "demo")
    reference = out / "demo" / "reference.ipynb"
    warm = _copies(reference, out / "warm", args.workers, "warm")
    subs = _copies(reference, out / "subs", args.copies, "student")

    start = time.perf_counter()
    BatchFolders(sandboxed=True).close()
    setup = time.perf_counter() - start
    print(f"per-worker set-up (released package, data view): {setup:.1f} s")

    local = LocalBackend(args.workers, limits)
    try:
        grade_folder(warm, checks, out / "warm-local", executor=local, limits=limits)
        local_wall, local_grades = _timed(local, subs, checks, out / "local", limits)
    finally:
        local.close()
    start = time.perf_counter()
    cluster = dask_backend(limits, cluster="local", workers=args.workers, processes=True)
    started = time.perf_counter() - start
    try:
        grade_folder(warm, checks, out / "warm-dask", executor=cluster, limits=limits)
        dask_wall, dask_grades = _timed(cluster, subs, checks, out / "dask", limits)
        data = reference.read_bytes()
        with cf.ThreadPoolExecutor(args.workers) as pool:
            dispatch_local = _dispatch(pool, data)
        dispatch_dask = _dispatch(cluster.executor, data)
    finally:
        cluster.close()

    same = [g.points for g in local_grades] == [g.points for g in dask_grades]
    per_run = statistics.mean(g.run.seconds for g in local_grades + dask_grades)
    n = args.copies
    overhead = (dask_wall - local_wall) / n
    print(f"{n} equal submissions of {args.exercise}, {args.workers} at once; same grades both ways: {same}")
    print(f"local pool:   {local_wall:7.1f} s  ({local_wall / n:.2f} s per submission)")
    print(f"LocalCluster: {dask_wall:7.1f} s  ({dask_wall / n:.2f} s per submission; cluster start {started:.1f} s)")
    print(f"scheduler overhead: {overhead:+.2f} s per submission; ratio Dask / local {dask_wall / local_wall:.3f}")
    print(f"dispatch alone ({len(data) / 1024:.0f} KiB submission, 200 no-op tasks): local pool "
          f"{dispatch_local * 1000:.2f} ms, Dask {dispatch_dask * 1000:.2f} ms per task")
    print(f"one sandboxed run of {args.exercise}: {per_run:.1f} s on average (this machine, now)")

    times = {name: (seconds, "quoted (README, small profile)") for name, seconds in QUOTED.items()}
    times[args.exercise] = (per_run, "measured now")
    for item in args.measured:
        name, _, seconds = item.partition("=")
        times[name] = (float(seconds), "measured (--measured)")
    print("\nestimated wall time of 500 submissions on 50 workers (one submission at a time each;")
    print(f"set-up {setup:.0f} s per worker, in parallel; overhead {max(overhead, 0):.2f} s per submission):")
    print("| notebook | s per submission | source | 50 workers | one at a time |\n|---|---|---|---|---|")
    for name, (seconds, source) in sorted(times.items()):
        wall = estimate(seconds, max(overhead, 0.0), setup)
        print(f"| {name} | {seconds:.1f} | {source} | {wall / 60:.1f} min | {500 * seconds / 3600:.1f} h |")


if __name__ == "__main__":
    main()
