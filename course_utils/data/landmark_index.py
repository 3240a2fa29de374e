"""Index tables of MediaPipe's 478-point face mesh: which landmark is which part of the face. NumPy only.

The data layer (the RaFD stand-in, the 83-point template) and the MediaPipe wrapper
(:mod:`course_utils.landmarks`) both read these numbers; keeping them here, free of any model, is what lets
the data layer run without MediaPipe.

Groups of two lists are ``(subject's right side, subject's left side)``; the subject's right side is on
the left of a frontal photograph.
"""

from __future__ import annotations

N_LANDMARKS = 478
"""Landmarks per face: the 468-point mesh plus 5 points per iris."""

RIGHT_EYE_OUTER = 33
"""Outer corner of the subject's right eye (on the left of a frontal photo)."""

LEFT_EYE_OUTER = 263
"""Outer corner of the subject's left eye (on the right of a frontal photo)."""

RIGHT_EYE_LOWER = (154, 145, 163)
"""Lower eyelid of the subject's right eye (the eye's position in the 83-point template)."""

LEFT_EYE_LOWER = (381, 374, 390)
"""Lower eyelid of the subject's left eye."""

BROW_INNER = ([107, 55, 66, 65], [336, 285, 296, 295])
BROW_OUTER = ([70, 46, 63, 53, 105, 52], [300, 276, 293, 283, 334, 282])
UPPER_LID = ([157, 158, 159, 160, 161], [384, 385, 386, 387, 388])
LOWER_LID = ([144, 145, 153, 154, 163], [373, 374, 380, 381, 390])
EYE_CORNERS = ([RIGHT_EYE_OUTER, 133], [LEFT_EYE_OUTER, 362])
MOUTH_CORNER = ([61], [291])
UPPER_LIP_OUTER = ([37, 39, 40], [267, 269, 270])
UPPER_LIP_INNER = ([82, 81, 80], [312, 311, 310])
LOWER_LIP_OUTER = ([84, 181, 91], [314, 405, 321])
LOWER_LIP_INNER = ([87, 178, 88], [317, 402, 318])
NOSE_WING = ([48, 64], [278, 294])
CHEEK = ([205, 50], [425, 280])
CHIN = ([148, 176], [377, 400])
MID_UPPER_LIP = [0, 13]
MID_LOWER_LIP = [17, 14]
MID_CHIN = [152]
IRIS = (list(range(468, 473)), list(range(473, 478)))
INNER_LIPS = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
NOSE_FIXED = [1, 4, 6, 168, 197, 195, 5]
