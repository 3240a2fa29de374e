"""Probes no submission can fake (issue 22): replacing probes or library functions in the sandbox gains nothing.

Probes run in the student's own process, so a submission can replace them. For notebooks 03, 05 and 07 two
submissions try, graded with the real grader (sandboxed) next to the untouched release, all cut to the imports
cell and the exercise cells:

* ``stubs``: every probe function of ``course_utils.probes`` that the checks use (and the old ``*_behaviour``
  summaries) replaced by a stub returning the reference's typical summary (``[0, 1, 0, 0, 0]`` for the
  reparameterisation, all facts 1 for the Keras builders, the triplets and the split);
* ``patched``: cheap wrong answers (``reparameterize`` returns the mean, networks that ignore the neutral face,
  triplets of zeros, a split that puts everything in training), with NumPy's comparisons
  (``np.allclose``, ``np.array_equal``, ``np.isclose``), ``keras.Model.fit`` (a falling loss) and
  ``tf.GradientTape.gradient`` (ones) monkeypatched.

Neither may score more than the untouched release: what the grader compares is a raw observation judged in the
grader (``FunctionCheck.judge``), so a stub's constant or a patched comparison in the sandbox counts for nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.instructor.grade import Grade, Limits, grade_folder
from course_utils.instructor.kitcalls import cut_notebook

ROOT = Path(__file__).resolve().parents[1]

STUBS = '''
import numpy as _np
import course_utils.probes as _p
import course_utils.probes.rafd as _pr
import course_utils.probes.vae as _pv


def _typical(value):
    return lambda *args, **kwargs: _np.array(value, dtype=float)


_pv.probe_reparameterize_raw = _pv.probe_reparameterize = _typical([0.0, 1.0, 0.0, 0.0, 0.0])
_p.conditional_networks_raw = _p.conditional_networks_behaviour = _typical([1.0] * 9)
_p.triplets_raw = _p.triplets_behaviour = _typical([1.0] * 7)
_pr.split_raw = _pr.split_behaviour = _typical([1.0] * 5)
_pr.branch_descriptions = _pr.branch_behaviour = _typical([1.0] * 7)
_pr.classifier_descriptions = _pr.classifier_behaviour = _typical([1.0] * 8)
'''
"""Every probe the checks use, and the old summaries, replaced by the reference's typical summary."""

PATCHES = '''
import numpy as _np
import keras as _keras
import tensorflow as _tf

_np.allclose = _np.array_equal = lambda *args, **kwargs: True
_np.isclose = lambda a, b, *args, **kwargs: _np.ones(_np.broadcast(_np.asarray(a), _np.asarray(b)).shape, bool)


class _FakeHistory:
    history = {"loss": [9.0, 5.0, 1.0], "reconstruction": [8.0, 4.0, 0.5], "kl": [1.0, 1.0, 0.5]}


_keras.Model.fit = lambda self, *args, **kwargs: _FakeHistory()
_tf.GradientTape.gradient = lambda self, target, sources, *args, **kwargs: (
    [_tf.ones_like(s) for s in sources] if isinstance(sources, (list, tuple)) else _tf.ones_like(sources))
'''
"""NumPy comparisons, Keras training and TensorFlow gradients monkeypatched in the submission's process."""

WRONG = {
    "03_mnist_vae": {"reparameterize": "def reparameterize(z_mean, z_log_var):\n    return z_mean\n"},
    "05_rafd_multimodal": {"subject_split": (
        "def subject_split(labels, groups, n_folds=5, seed=0):\n"
        "    n = len(labels)\n"
        "    return C.Split(train=np.arange(n), val=np.arange(0), test=np.arange(0))\n")},
    "07_landmark_vae": {
        "build_conditional_networks": (
            "def build_conditional_networks(data_dim, latent_dim=30, encoder_hidden=(240, 120, 60),\n"
            "                               decoder_hidden=(300, 400, 300), dropout=0.1):\n"
            "    x, y = keras.Input((data_dim,)), keras.Input((data_dim,))\n"
            "    h = keras.layers.Dense(encoder_hidden[0])(x)\n"
            "    heads = [keras.layers.Dense(latent_dim)(h), keras.layers.Dense(latent_dim)(h)]\n"
            "    encoder = keras.Model([x, y], heads)\n"
            "    z, y2 = keras.Input((latent_dim,)), keras.Input((data_dim,))\n"
            "    decoder = keras.Model([z, y2], keras.layers.Dense(data_dim)(keras.layers.Dense(8)(z)))\n"
            "    return encoder, decoder\n"),
        "make_triplets": (
            "def make_triplets(expression, intensity, n_triplets=None, seed=0):\n"
            "    n = 4 * len(expression) if n_triplets is None else int(n_triplets)\n"
            "    return np.zeros((n, 3), np.int64), np.zeros(n, np.int64)\n")},
}
"""Cheap wrong answers for the ``patched`` submission (not solving anything; the patches try to hide it)."""


def automatic(grade: Grade) -> float:
    """Points of the automatic checks (written answers, pending, left out)."""
    return grade.auto_points


@pytest.fixture(scope="module", params=sorted(WRONG))
def graded(request, tmp_path_factory) -> tuple[str, dict[str, Grade]]:
    """Grade, for one notebook, the untouched release and the two faking submissions (all cut alike)."""
    stem = request.param
    instructor = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    tmp = tmp_path_factory.mktemp(f"patching-{stem}")
    subs = tmp / "submissions"
    subs.mkdir()
    for name, notebook in (("release", cut_notebook(instructor)), ("stubs", cut_notebook(instructor, extra=STUBS)),
                           ("patched", cut_notebook(instructor, WRONG[stem], extra=PATCHES))):
        (subs / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    grades = grade_folder(subs, ROOT / "grading" / f"{stem}.py", tmp / "out", workers=2,
                          limits=Limits(timeout=600, cell_timeout=300))
    for grade in grades:  # the measured scores, shown with pytest -s
        print(f"{stem} {grade.student}: {automatic(grade):g} automatic points, run {grade.run.status}")
    return stem, {grade.student: grade for grade in grades}


@pytest.mark.parametrize("attempt", ["stubs", "patched"])
def test_faking_the_probes_scores_no_more_than_the_untouched_release(graded, attempt):
    stem, grades = graded
    release, grade = automatic(grades["release"]), grades[attempt]
    earned = {r.check: (r.points, r.reason[:300]) for r in grade.results if r.points > 0 and not r.pending}
    assert grade.run.status == "ok", (grade.run.status, grade.run.message)
    assert automatic(grade) <= release, f"{stem} {attempt}: {automatic(grade)} > {release}: {earned}"
