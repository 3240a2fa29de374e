"""Grade the kit's own demo submissions of exercises and print the table (README's sample).

    .venv/bin/python tools/grade_demo.py 01_pca [02_diffusion_maps ...] [--all] [--out build/grade-demo]
                                         [--extras] [--copies 8] [--cell-timeout 300] [--workers N]

For each exercise ``NN_topic`` (``grading/NN_topic.py``) it writes and grades these submissions, built
from the instructor notebook ``notebooks/NN_topic.ipynb``:

* ``reference``: the instructor notebook itself (full marks expected; written answers pending);
* ``untouched_release``: the student version as released (near zero expected);
* ``bug_<name>``: one per entry of the grading module's ``DEMO_BUGS`` (bug name -> exact ``(old, new)``
  replacements in the instructor notebook), each expected to lose only the points of what it affects;
* with ``--extras``: cells moved/duplicated with the results cell deleted, and an endless loop in the
  first exercise (the grader's robustness);

and prints one row per submission: points, automatically graded maximum, pending manual points (written
answers), the checks that lost points, run time. It exits 1 when the reference is below full marks, a
catalogued bug loses no point, or one bug costs more than a third of the automatic points
(``course_utils.instructor.demo.problems``). ``--copies N`` then grades N copies of the reference with one
worker and with every core and prints the time per submission and the parallel speed-up.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from course_utils.instructor.datasets import warm_cache
from course_utils.instructor.demo import demo_row, demo_submissions, problems
from course_utils.instructor.grade import Limits, cpu_count, grade_folder, grades_table

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exercises", nargs="*", help="notebook stems, e.g. 01_pca (default: 01_pca)")
    parser.add_argument("--all", action="store_true", help="every grading/NN_*.py")
    parser.add_argument("--out", default="build/grade-demo")
    parser.add_argument("--extras", action="store_true", help="also moved cells and an endless loop")
    parser.add_argument("--copies", type=int, default=0, help="reference copies for the speed-up measurement")
    parser.add_argument("--cell-timeout", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--details", action="store_true", help="also print every check of every submission")
    args = parser.parse_args()
    names = (sorted(p.stem for p in (ROOT / "grading").glob("[0-9][0-9]_*.py")) if args.all
             else args.exercises or ["01_pca"])
    warm_cache()  # as the grade command does: the sandbox's cache is read-only
    out = Path(args.out)
    limits = Limits(cell_timeout=args.cell_timeout)
    print("| exercise | submission | points | max (auto) | pending (manual) | loses | run time |\n"
          "|---|---|---|---|---|---|---|")
    all_grades, found = [], []
    for exercise in names:
        folder = out / exercise
        shutil.rmtree(folder, ignore_errors=True)
        order = demo_submissions(exercise, folder / "submissions", extras=args.extras)
        grades = {g.student: g for g in grade_folder(folder / "submissions", ROOT / "grading" / f"{exercise}.py",
                                                     folder / "grades", limits=limits, workers=args.workers)}
        rows = [demo_row(name, grades[name]) for name in order]
        for row in rows:
            print(f"| {exercise} | {row.submission} | {row.points:g} | {row.auto:g} | {row.pending:g} | "
                  f"{row.lost_text} | {row.seconds:.1f} s |", flush=True)
        found += [f"{exercise}: {problem}" for problem in problems(rows)]
        all_grades.extend(grades[name] for name in order)
    if args.details:
        print()
        print(grades_table(all_grades))
    if args.copies:
        exercise = names[0]
        copies = out / exercise / "copies"
        copies.mkdir()
        for number in range(args.copies):
            shutil.copy(out / exercise / "submissions" / "reference.ipynb", copies / f"student_{number:02d}.ipynb")
        walls = {}
        for workers in (1, cpu_count()):
            start = time.perf_counter()
            grades = grade_folder(copies, ROOT / "grading" / f"{exercise}.py", out / exercise / f"copies-{workers}",
                                  workers=workers, limits=limits)
            walls[workers] = time.perf_counter() - start
            print(f"{workers} worker(s): {len(grades)} submissions in {walls[workers]:.1f} s, "
                  f"{walls[workers] / len(grades):.1f} s per submission")
        print(f"parallel speed-up with {cpu_count()} workers: {walls[1] / walls[cpu_count()]:.2f}x")
    for problem in found:
        print("PROBLEM:", problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
