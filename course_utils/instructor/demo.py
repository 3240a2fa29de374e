"""The kit's demo submissions of an exercise and what their grades must show (``make grade-demo``).

For an exercise ``NN_topic`` the demo submissions are the instructor notebook (``reference``), the student
version as released (``untouched_release``) and one ``bug_<name>`` per entry of the grading module's
``DEMO_BUGS`` (bug name -> exact ``(old, new)`` replacements in the instructor notebook). :func:`problems`
says what is wrong with their grades: the reference below full marks, a catalogued bug that loses nothing,
or one that costs more than a third of the automatic points (one bug must cost its own points only).
"""

from __future__ import annotations

import copy
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from .grade import Grade
from .release import apply_replacements, cell_source, exercises, student_notebook

ROOT = Path(__file__).resolve().parents[2]
MAX_SHARE_OF_ONE_BUG = 1 / 3


def demo_bugs(exercise: str, root: Path = ROOT) -> dict[str, list[tuple[str, str]]]:
    """The ``DEMO_BUGS`` of ``grading/<exercise>.py`` (empty if it defines none)."""
    path = root / "grading" / f"{exercise}.py"
    spec = importlib.util.spec_from_file_location(f"demo_{exercise}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, "DEMO_BUGS", {}))


def demo_submissions(exercise: str, folder: Path, extras: bool = False, root: Path = ROOT) -> list[str]:
    """Write the demo submissions of ``exercise`` into ``folder``; return their names in table order."""
    reference = json.loads((root / "notebooks" / f"{exercise}.ipynb").read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    subs = {"reference": reference, "untouched_release": student_notebook(reference, exercise)}
    for name, replacements in demo_bugs(exercise, root).items():
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


@dataclass(frozen=True)
class DemoRow:
    """One demo submission's grade: automatic points, their maximum, pending manual points, checks that lost."""

    submission: str
    points: float
    auto: float
    pending: float
    lost: dict[str, float]
    seconds: float

    @property
    def lost_text(self) -> str:
        """``check 3, other 1.5`` (what the README's demo table shows)."""
        return ", ".join(f"`{check}` {points:g}" for check, points in self.lost.items()) or "nothing"


def demo_row(name: str, grade: Grade) -> DemoRow:
    """The table row of one graded demo submission."""
    lost = {r.check: round(r.max_points - r.points, 4) for r in grade.results
            if not r.pending and r.max_points - r.points > 1e-9}
    return DemoRow(name, grade.auto_points, grade.auto_max, grade.pending_max, lost, grade.run.seconds)


def problems(rows: list[DemoRow]) -> list[str]:
    """What the demo grades show wrong: the reference below full marks, a bug losing nothing or too much."""
    found = []
    for row in rows:
        if row.submission == "reference" and row.points < row.auto - 1e-9:
            found.append(f"the reference scores {row.points:g} of {row.auto:g}: it loses {row.lost_text}")
        elif row.submission.startswith("bug_"):
            lost = row.auto - row.points
            if lost <= 1e-9:
                found.append(f"{row.submission} loses no point: no check recognises this bug")
            elif lost > MAX_SHARE_OF_ONE_BUG * row.auto + 1e-9:
                found.append(f"{row.submission} loses {lost:g} of {row.auto:g} points, more than a third "
                             f"({row.lost_text}): one bug should cost its own points")
    return found
