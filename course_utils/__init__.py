"""course_utils: the helpers behind the course-kit notebooks.

Modules by concern: :mod:`~course_utils.data` (offline datasets), :mod:`~course_utils.dmaps`
(diffusion-map analysis helpers),
:mod:`~course_utils.evacuation` (people in an area, critical numbers), :mod:`~course_utils.plotting` (figures),
:mod:`~course_utils.report` (headline results), :mod:`~course_utils.notebook` (notebook set-up, quiet TensorFlow).
"""

__version__ = "0.1.0"
