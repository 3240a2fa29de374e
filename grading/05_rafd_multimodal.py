"""Checks of notebook 05 (RaFD multimodal): every exercise on hidden inputs, plus results that depend on them.

Function checks: ``parse_rafd_name`` (fields of generated names, valid and not), ``neutral_partner``
(generated tables, shuffled, with missing neutrals and every ``match``), ``landmark_deltas`` (random faces),
``subject_split`` (behaviour: disjoint people, every row once, fold sizes, every label), and the Keras builders
on behaviour (``course_utils.probes.rafd``: names, shapes, what the output depends on,
standardisation, training lowers the loss, freezing). Graded runs use the small training profile, so the
accuracies are checked against generous bounds, not the committed figures; the data figures
(pairs, detection rate, mean delta, people shared by train and test) do not depend on training.
"""

import numpy as np
import pandas as pd

from course_utils.data.rafd import RAFD_CAMERAS, RAFD_EMOTIONS, RAFD_GAZES, RAFD_GROUPS, RAFD_SEXES
from course_utils.instructor.checks import FunctionCheck, ResultCheck
from course_utils.instructor.reference.classifiers import (
    build_classifier,
    build_cnn_branch,
    build_mlp_branch,
    subject_split,
)
from course_utils.instructor.reference.rafd import landmark_deltas, neutral_partner, parse_rafd_name
from course_utils.probes.rafd import (
    branch_descriptions,
    branch_facts,
    classifier_descriptions,
    classifier_facts,
    parsed_fields,
    partner_positions,
    split_facts,
    split_raw,
)

EXERCISE = "05_rafd_multimodal"


def _names(rng: np.random.Generator) -> list[tuple]:
    def pick(values):
        return values[int(rng.integers(len(values)))]

    def case(text):  # RaFD's fields in random upper / lower case
        return text.upper() if rng.random() < 0.3 else text.lower() if rng.random() < 0.3 else text

    cases = []
    for _ in range(8):  # valid names
        name = (f"Rafd{pick(RAFD_CAMERAS)}_{int(rng.integers(1, 74)):02d}_{case(pick(RAFD_GROUPS))}_"
                f"{case(pick(RAFD_SEXES))}_{case(pick(RAFD_EMOTIONS))}_{case(pick(RAFD_GAZES))}"
                f".{pick(['jpg', 'JPG', 'jpeg', 'png'])}")
        cases.append((pick(["", "some/folder/", "/abs/path/"]) + name,))
    bad = [f"Rafd{int(rng.integers(1, 99)):03d}_05_Kid_male_happy_left.jpg",  # not a RaFD camera (unless drawn)
           "Rafd090_05_Kid_male_bored_left.jpg", "Rafd090_5_Kid_male_happy_left.jpg",
           "Rafd090_05_Kid_male_happy_up.jpg", "Rafd090_05_Kid_male_happy_left.gif", "IMG_0042.jpg",
           "Rafd090_05_Alien_male_happy_left.jpg"]
    cases += [(name,) for name in bad]
    return cases


def _is_not_rafd(name):
    return parse_rafd_name(name) is None


def _frames(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for match in [("camera", "gaze"), ("camera", "gaze"), ("camera",), ()]:
        rows = []
        models = rng.choice(np.arange(1, 74), size=int(rng.integers(3, 6)), replace=False)
        cameras = ["090"] if match == () else list(rng.choice(["045", "090", "135"], size=2, replace=False))
        gazes = ["frontal"] if "gaze" not in match else ["frontal", "left"]
        for m in models:
            for c in cameras:
                for g in gazes:
                    for e in rng.choice(RAFD_EMOTIONS, size=4, replace=False).tolist() + ["neutral"]:
                        rows.append({"model": int(m), "camera": c, "gaze": g, "emotion": e, "path": f"{m}_{c}_{g}_{e}"})
        frame = pd.DataFrame(rows).drop_duplicates(["model", "camera", "gaze", "emotion"])
        if match != ():  # some neutral images missing: their emote images have no partner
            neutral = frame.index[frame["emotion"] == "neutral"]
            frame = frame.drop(rng.choice(neutral, size=2, replace=False))
        frame = frame.sample(frac=1.0, random_state=int(rng.integers(1000)))  # index labels != positions
        # The frame travels into the sandbox as columns (no pickle); the probe rebuilds it, index labels included.
        cases.append((frame["model"].to_numpy(), frame["camera"].to_numpy(str), frame["gaze"].to_numpy(str),
                      frame["emotion"].to_numpy(str), rng.permutation(len(frame)) + 100, list(match)))
    return cases


def _faces(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in (1, 3):
        neutral = rng.normal(size=(n, 478, 3))
        cases.append((neutral + rng.normal(scale=0.05, size=neutral.shape), neutral))
    neutral = rng.normal(size=(478, 3)) * rng.uniform(0.1, 10)
    cases.append((neutral + rng.normal(scale=0.1, size=neutral.shape), neutral))  # one face, any scale
    cases.append((neutral, neutral))  # a neutral face paired with itself: exactly zero
    small = rng.normal(size=(2, 5, 3))
    cases.append((small + rng.normal(size=small.shape), small, 3, 1))  # other eye landmarks
    return cases


def _same_face(emote, neutral, *eyes):
    return bool(np.array_equal(emote, neutral))


def _splits(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n_groups, n_labels, n_folds in ((40, 8, 5), (30, 6, 5), (24, 4, 4)):
        labels = np.tile(np.arange(n_labels), n_groups)
        groups = np.repeat(rng.permutation(np.arange(100, 100 + n_groups)), n_labels)
        order = rng.permutation(len(labels))
        cases.append((labels[order], groups[order], n_folds, int(rng.integers(100))))
    return cases


def _cnn_cases(rng: np.random.Generator) -> list[tuple]:
    return [("cnn", (16, 24, 3), "pixels", int(rng.integers(100))),
            ("cnn", (32, 32, 1), "image", int(rng.integers(100)))]


def _mlp_cases(rng: np.random.Generator) -> list[tuple]:
    return [("mlp", (int(rng.integers(6, 20)),), "feats", int(rng.integers(100))),
            ("mlp", (30,), "deltas", int(rng.integers(100)))]


def _classifier_cases(rng: np.random.Generator) -> list[tuple]:
    return [(3, int(rng.integers(100))), (5, int(rng.integers(100)))]


# Kit functions withheld while grading this notebook (course_utils/instructor/withhold.py): split_by_person is a
# subject-independent train / validation / test split (subject_split without the stratification). In the calls
# of the checks only (the notebook's normalized_positions needs it): inter_ocular_distance, the unit of
# landmark_deltas. No kit function parses RaFD names, pairs neutral faces or builds the branches and the head.
WITHHELD = [
    "course_utils.data.splits:split_by_person",
]
WITHHELD_IN_CALLS = [
    "course_utils.landmarks:inter_ocular_distance",
]

CHECKS = [
    FunctionCheck("parse_rafd_name", "parse_rafd_name", _names, parse_rafd_name, points=2, probe=parsed_fields,
                  edge=_is_not_rafd, edge_share=0.3,
                  description="fields of RaFD file names (any case, with folders), None for other names"),
    FunctionCheck("neutral_partner", "neutral_partner", _frames, neutral_partner, points=2, probe=partner_positions,
                  description="row position of each row's neutral image (same model and match columns), -1 if none"),
    FunctionCheck("landmark_deltas", "landmark_deltas", _faces, landmark_deltas, points=4, rtol=1e-5, atol=1e-5,
                  edge=_same_face, description="(emote - neutral) / neutral inter-ocular distance, flattened per face"),
    FunctionCheck("subject_split", "subject_split", _splits, subject_split, points=2, probe=split_raw,
                  judge=split_facts,
                  description="every row once, no person in two parts, fold-sized test and validation, every label"),
    FunctionCheck("build_cnn_branch", "build_cnn_branch", _cnn_cases, build_cnn_branch, points=2,
                  probe=branch_descriptions, judge=branch_facts,
                  description="CNN branch: names, shapes, output depends on input, learns"),
    FunctionCheck("build_mlp_branch", "build_mlp_branch", _mlp_cases, build_mlp_branch, points=2,
                  probe=branch_descriptions, judge=branch_facts,
                  description="MLP branch: names, shapes, standardises with mean and std, output depends on "
                              "input, learns"),
    FunctionCheck("build_classifier", "build_classifier", _classifier_cases, build_classifier, points=3,
                  probe=classifier_descriptions, judge=classifier_facts,
                  description="softmax head on one or several branches: probabilities, compiled (learning rate, "
                              "cross-entropy), learns, freezes branches when asked"),
    ResultCheck("n_pairs_used", "n_pairs_used", points=1, depends_on=("parse_rafd_name", "neutral_partner"),
                description="pairs from your parsing and pairing (same as the reference run)"),
    ResultCheck("landmark_detection_rate", "landmark_detection_rate", points=1, rtol=1e-4),
    ResultCheck("mean_abs_delta", "mean_abs_delta", points=1, rtol=1e-4,
                depends_on=("parse_rafd_name", "neutral_partner", "landmark_deltas"),
                description="your delta features on your pairs (same as the reference run)"),
    ResultCheck("subject_split_models_shared", "subject_split_models_shared", points=1, expected=0,
                depends_on=("subject_split",), description="no person both in training and in test"),
    ResultCheck("acc_mlp_mean", "acc_mlp_mean", points=1, bounds=(0.5, 1.0),
                description="the deltas MLP learns (small profile: at least 0.5; chance is 0.125)"),
    ResultCheck("acc_fusion_mean", "acc_fusion_mean", points=1, bounds=(0.4, 1.0),
                description="the staged fusion learns (small profile: at least 0.4)"),
]

# Written answers graded by hand: grade_id of the notebook's `written-answer` cell -> points. With CHECKS the
# one source of the sheet's points (`python -m course_utils points --write` puts them into the notebook).
WRITTEN = {"05-q1a": 2, "05-q1b": 1, "05-q1c": 2, "05-q2": 2}

DEMO_BUGS = {
    "parse_model_not_int": [('fields = {"camera": camera, "model": int(model)}',
                             'fields = {"camera": camera, "model": model}')],
    "partner_ignores_match": [('    keys = ["model", *match]\n    where = {}', '    keys = ["model"]\n    where = {}')],
    "deltas_emote_distance": [
        ("distance = np.linalg.norm(neutral[..., left_eye, :] - neutral[..., right_eye, :], axis=-1)",
         "distance = np.linalg.norm(emote[..., left_eye, :] - emote[..., right_eye, :], axis=-1)")],
    "split_val_in_train": [("return C.Split(train=np.flatnonzero(fold_of >= 2)",
                            "return C.Split(train=np.flatnonzero(fold_of >= 1)")],
    "cnn_ignores_image": [("    x = inputs\n    for i, filters in enumerate((16, 32, 64), start=1):",
                           "    x = inputs * 0.0\n    for i, filters in enumerate((16, 32, 64), start=1):")],
    "mlp_not_standardised": [('mean=np.asarray(mean, "float32"), variance=np.asarray(std, "float32") ** 2,',
                              "mean=0.0, variance=1.0,")],
    "classifier_never_frozen": [("        branch.trainable = not freeze_branches\n    inputs = [branch.input",
                                 "        branch.trainable = True\n    inputs = [branch.input")],
}
