"""Instructor workflow: build the student release, grade submitted notebooks, write grade reports.

* :mod:`.release` turns the instructor notebooks (nbgrader markers ``### BEGIN SOLUTION`` / ``### END
  SOLUTION`` and ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``) into student notebooks.
* :mod:`.checks` defines graded checks (points, partial credit, tolerances); an exercise's checks live in
  ``grading/NN_topic.py`` beside the notebooks, never in the release.
* :mod:`.reference` holds the reference answers of the exercises (one module per topic); the checks and
  the tests import them, the release never contains them.
* :mod:`.leaks` proves that no public function of the released package reproduces a reference answer.
* :mod:`.sandbox` runs one submission in its own process (time and memory limits, no network, a
  temporary working directory, instructor files unreadable) and :mod:`.grade` runs many in parallel
  and writes ``grades.csv`` and one feedback page per student.

Command line: ``python -m course_utils.instructor release`` and ``python -m course_utils.instructor grade``.
"""
