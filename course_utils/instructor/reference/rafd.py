"""Reference solutions of notebook 05 (RaFD): file-name parsing, neutral pairing, delta features.

Instructor only: the student writes these in the notebook; tests and ``grading/05_rafd_multimodal.py``
import them from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.data.rafd import RAFD_CAMERAS, RAFD_EMOTIONS, RAFD_GAZES, RAFD_GROUPS, RAFD_SEXES
from course_utils.landmarks import LEFT_EYE_OUTER, RIGHT_EYE_OUTER, check_landmark_pairs

RAFD_PATTERN = re.compile(
    r"^Rafd(?P<camera>\d{3})_(?P<model>\d{2})_(?P<group>[A-Za-z]+)_(?P<sex>[a-z]+)_"
    r"(?P<emotion>[a-z]+)_(?P<gaze>[a-z]+)\.(?:jpe?g|png)$",
    re.IGNORECASE,
)


def parse_rafd_name(name: str) -> dict[str, object] | None:
    """Fields of one RaFD file name (camera, model, group, sex, emotion, gaze), or None for another name.

    ``camera`` stays a 3-digit string, ``model`` becomes an int; the other fields are returned in RaFD's
    spelling (``RAFD_EMOTIONS`` etc.) whatever their case in the name. A directory part is ignored.
    """
    match = RAFD_PATTERN.match(Path(str(name)).name)
    if match is None:
        return None
    fields: dict[str, object] = dict(match.groupdict())
    allowed = {"camera": RAFD_CAMERAS, "group": RAFD_GROUPS, "sex": RAFD_SEXES, "emotion": RAFD_EMOTIONS,
               "gaze": RAFD_GAZES}
    for key, values in allowed.items():
        canonical = {v.lower(): v for v in values}.get(str(fields[key]).lower())
        if canonical is None:
            return None
        fields[key] = canonical
    fields["model"] = int(fields["model"])
    return fields


def neutral_partner(frame: pd.DataFrame, match: Sequence[str] = ("camera", "gaze")) -> np.ndarray:
    """Row position of each row's neutral partner (same model, same ``match`` fields), -1 when there is none.

    A neutral row is its own partner.
    """
    keys = ["model", *match]
    lookup = {}
    for position, row in enumerate(frame[keys + ["emotion"]].itertuples(index=False)):
        if row[-1] == "neutral":
            lookup[tuple(row[:-1])] = position
    return np.array([lookup.get(tuple(row), -1) for row in frame[keys].itertuples(index=False)], dtype=int)


def landmark_deltas(emote: np.ndarray, neutral: np.ndarray, left_eye: int = LEFT_EYE_OUTER,
                    right_eye: int = RIGHT_EYE_OUTER) -> np.ndarray:
    """(emote - neutral) / neutral inter-ocular distance, flattened per face: (n, L, 3) -> (n, 3L)."""
    emote, neutral = check_landmark_pairs(emote, neutral, left_eye, right_eye)
    distance = np.linalg.norm(neutral[..., left_eye, :] - neutral[..., right_eye, :], axis=-1)
    delta = (emote - neutral) / distance[..., None, None]
    return delta.reshape(*delta.shape[:-2], -1)
