"""Grading time per submission with the OS sandbox against without it, and the batch speed-up.

    .venv/bin/python tools/bench_grading.py [--exercise 01_pca] [--copies 4] [--rounds 1]

Grades ``--copies`` copies of the instructor notebook (the reference solution) four ways, interleaved in
the same run so that machine load hits them alike: sandboxed and ``--unsafe-no-sandbox``, each with one
worker and with every core. The reference solution scores every automatic check in full (written answers
stay pending for the instructor and are not counted). Prints the mean run time of a submission (its own
clock, from start of the sandbox to its last report), the wall time of each batch, and the speed-up of
the parallel batch.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from course_utils.instructor.grade import Limits, cpu_count, grade_folder

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exercise", default="01_pca")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    checks = ROOT / "grading" / f"{args.exercise}.py"
    cores = cpu_count()
    per_run: dict[tuple[str, int], list[float]] = {}
    walls: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        for number in range(args.copies):
            shutil.copy(ROOT / "notebooks" / f"{args.exercise}.ipynb", subs / f"student_{number:02d}.ipynb")
        for _ in range(args.rounds):
            for workers in (1, cores):
                for mode in ("sandbox", "unsafe"):
                    limits = Limits(cell_timeout=120, unsafe_no_sandbox=mode == "unsafe")
                    start = time.perf_counter()
                    grades = grade_folder(subs, checks, Path(tmp) / f"out-{mode}-{workers}", workers=workers,
                                          limits=limits)
                    walls.setdefault((mode, workers), []).append(time.perf_counter() - start)
                    per_run.setdefault((mode, workers), []).extend(g.run.seconds for g in grades)
                    automatic = [sum(r.max_points for r in g.results if not r.pending) for g in grades]
                    assert all(g.points == full for g, full in zip(grades, automatic, strict=True)), [
                        (g.student, g.points, full) for g, full in zip(grades, automatic, strict=True)]
    print(f"| grading ({args.copies} x {args.exercise} reference) | workers | s per submission | batch wall s |")
    print("|---|---|---|---|")
    for (mode, workers), seconds in sorted(per_run.items()):
        print(f"| {mode} | {workers} | {statistics.mean(seconds):.1f} | {statistics.mean(walls[mode, workers]):.1f} |")
    for mode in ("sandbox", "unsafe"):
        speedup = statistics.mean(walls[mode, 1]) / statistics.mean(walls[mode, cores])
        print(f"{mode}: speed-up with {cores} workers {speedup:.2f}x")
    overhead = statistics.mean(per_run["sandbox", 1]) - statistics.mean(per_run["unsafe", 1])
    print(f"sandbox overhead per submission (1 worker): {overhead:+.1f} s")


if __name__ == "__main__":
    main()
