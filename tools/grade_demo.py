"""Grade the kit's own demo submissions of an exercise and print the grades table (README's sample).

    .venv/bin/python tools/grade_demo.py [--exercise 01_pca] [--out build/grade-demo] [--copies 8]

Writes five submissions built from the instructor notebook: the reference solution, the untouched
student release, a deliberate bug (01 only), moved/duplicated cells with the results cell deleted, and
an endless loop in the student's function; grades them and prints the table. Then grades ``--copies``
copies of the reference once with one worker and once with every core, and prints the time per
submission and the parallel speed-up.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import time
from pathlib import Path

from course_utils.instructor.grade import Limits, cpu_count, grade_folder, grades_table
from course_utils.instructor.release import cell_source, exercises, student_notebook

ROOT = Path(__file__).resolve().parents[1]
BUGS = {"01_pca": ("np.asarray(singular_values, dtype=float) ** 2", "np.asarray(singular_values, dtype=float)")}


def demo_submissions(exercise: str, folder: Path) -> None:
    """Write the demo submissions of ``exercise`` into ``folder``."""
    reference = json.loads((ROOT / "notebooks" / f"{exercise}.ipynb").read_text(encoding="utf-8"))
    first = exercises(reference)[0]
    folder.mkdir(parents=True, exist_ok=True)
    subs = {"reference": reference, "untouched_release": student_notebook(reference)}
    if exercise in BUGS:
        buggy = copy.deepcopy(reference)
        cell = buggy["cells"][first.cell_index]
        cell["source"] = cell_source(cell).replace(*BUGS[exercise])
        subs["deliberate_bug"] = buggy
    shuffled = copy.deepcopy(reference)
    cells = shuffled["cells"]
    cells.append(copy.deepcopy(cells[first.cell_index]))
    cells.insert(len(cells) - 4, cells.pop(first.cell_index))
    shuffled["cells"] = [c for c in cells if "results" not in c["metadata"].get("tags", [])]
    subs["moved_cells_no_results_cell"] = shuffled
    looping = copy.deepcopy(reference)
    cell = looping["cells"][first.cell_index]
    text = cell_source(cell)
    body_start = text.index("### BEGIN SOLUTION")
    indent = text[:body_start].rsplit("\n", 1)[1]
    cell["source"] = text[:body_start] + "while True:\n" + indent + "    pass\n" + indent + text[body_start:]
    subs["endless_loop"] = looping
    for name, notebook in subs.items():
        (folder / f"{name}.ipynb").write_text(json.dumps(notebook, indent=1), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exercise", default="01_pca")
    parser.add_argument("--out", default="build/grade-demo")
    parser.add_argument("--copies", type=int, default=8, help="reference copies for the speed-up measurement")
    parser.add_argument("--cell-timeout", type=float, default=10.0)
    args = parser.parse_args()
    out = Path(args.out)
    checks = ROOT / "grading" / f"{args.exercise}.py"
    shutil.rmtree(out, ignore_errors=True)
    demo_submissions(args.exercise, out / "submissions")
    grades = grade_folder(out / "submissions", checks, out / "grades", limits=Limits(cell_timeout=args.cell_timeout))
    print("| student | points | run time |\n|---|---|---|")
    for g in grades:
        print(f"| {g.student} | {g.points:g} / {g.max_points:g} | {g.run.seconds:.1f} s |")
    print()
    print(grades_table(grades))
    print()
    copies = out / "copies"
    copies.mkdir()
    for number in range(args.copies):
        shutil.copy(out / "submissions" / "reference.ipynb", copies / f"student_{number:02d}.ipynb")
    walls = {}
    for workers in (1, cpu_count()):
        start = time.perf_counter()
        grades = grade_folder(copies, checks, out / f"grades-copies-{workers}", workers=workers)
        walls[workers] = time.perf_counter() - start
        print(f"{workers} worker(s): {len(grades)} submissions in {walls[workers]:.1f} s, "
              f"{walls[workers] / len(grades):.1f} s per submission")
    print(f"parallel speed-up with {cpu_count()} workers: {walls[1] / walls[cpu_count()]:.2f}x")


if __name__ == "__main__":
    main()
