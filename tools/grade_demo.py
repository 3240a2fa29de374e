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
answers), run time. ``--copies N`` then grades N copies of the reference with one worker and with every
core and prints the time per submission and the parallel speed-up.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import shutil
import time
from pathlib import Path

from course_utils.instructor.datasets import warm_cache
from course_utils.instructor.grade import Grade, Limits, cpu_count, grade_folder, grades_table
from course_utils.instructor.release import apply_replacements, cell_source, exercises, student_notebook

ROOT = Path(__file__).resolve().parents[1]


def demo_bugs(exercise: str) -> dict[str, list[tuple[str, str]]]:
    """The ``DEMO_BUGS`` of ``grading/<exercise>.py`` (empty if it defines none)."""
    path = ROOT / "grading" / f"{exercise}.py"
    spec = importlib.util.spec_from_file_location(f"demo_{exercise}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, "DEMO_BUGS", {}))


def demo_submissions(exercise: str, folder: Path, extras: bool = False) -> list[str]:
    """Write the demo submissions of ``exercise`` into ``folder``; return their names in table order."""
    reference = json.loads((ROOT / "notebooks" / f"{exercise}.ipynb").read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    subs = {"reference": reference, "untouched_release": student_notebook(reference, exercise)}
    for name, replacements in demo_bugs(exercise).items():
        subs[f"bug_{name}"] = apply_replacements(reference, [tuple(r) for r in replacements], f"{exercise}/{name}")
    if extras:
        first = exercises(reference)[0]
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
    return list(subs)


def summary_row(grade: Grade) -> tuple[float, float, float]:
    """``(points, automatic maximum, pending manual points)`` of one graded submission."""
    auto = [r for r in grade.results if not r.pending]
    pending = sum(r.max_points for r in grade.results if r.pending)
    return round(sum(r.points for r in auto), 4), round(sum(r.max_points for r in auto), 4), pending


def main() -> None:
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
    print("| exercise | submission | points | max (auto) | pending (manual) | run time |\n|---|---|---|---|---|---|")
    all_grades = []
    for exercise in names:
        folder = out / exercise
        shutil.rmtree(folder, ignore_errors=True)
        order = demo_submissions(exercise, folder / "submissions", extras=args.extras)
        grades = {g.student: g for g in grade_folder(folder / "submissions", ROOT / "grading" / f"{exercise}.py",
                                                     folder / "grades", limits=limits, workers=args.workers)}
        for name in order:
            points, auto, pending = summary_row(grades[name])
            print(f"| {exercise} | {name} | {points:g} | {auto:g} | {pending:g} | {grades[name].run.seconds:.1f} s |",
                  flush=True)
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


if __name__ == "__main__":
    main()
