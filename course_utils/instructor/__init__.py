"""Instructor workflow: build the student release, grade submitted notebooks, write grade reports.

* :mod:`.release` turns the instructor notebooks (nbgrader markers ``### BEGIN SOLUTION`` / ``### END
  SOLUTION`` and ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``) into student notebooks.
* :mod:`.checks` defines graded checks (points, partial credit, tolerances); an exercise's checks live in
  ``grading/NN_topic.py`` beside the notebooks, never in the release.
* :mod:`.reference` holds the reference answers of the exercises (one module per topic); the checks and
  the tests import them, the release never contains them.
* :mod:`.leaks` proves that no public function of the released package reproduces a reference answer.
* :mod:`.sandbox` runs one submission in its own process (time and memory limits, no network, a
* :mod:`.isolation` puts each submission in an OS sandbox (bubblewrap: allow-list of read-only
  binds, new namespaces, its own unprivileged uid, limits per submission); :mod:`.sandbox` is the child
  that runs the notebook inside it; :mod:`.grade` grades a folder (``grade_folder``) with one module per
  concern: :mod:`.inbox` (submissions and ids), :mod:`.execute` (running one submission), :mod:`.output`
  (its output, hostile input), :mod:`.scoring`, :mod:`.worker` (one submission on any worker) and
  :mod:`.reports` (``grades.csv``, ``summary.csv``, one feedback page per student).
* :mod:`.batch` runs a batch on a backend (the local pool, any executor) with saved records (resume),
  a progress bar and where/how long per submission; :mod:`.distributed` adds Dask backends
  (``LocalCluster``, Slurm via dask-jobqueue, a running scheduler; optional ``cluster`` extra).

Command line: ``python -m course_utils.instructor release`` and ``python -m course_utils.instructor grade``.
"""
