"""The data the graded notebooks read, made ready before any submission runs.

Inside the sandbox the data cache is read-only and there is no network, so a dataset that is not in the cache
when a batch starts fails every submission that loads it (MNIST not downloaded, the RaFD stand-in not
generated). :func:`warm_cache` runs with the instructor's rights, once per ``grade`` or ``check-release``
command, and fills the cache: every registered dataset (fetched with pip and verified, as
``python -m course_utils.data download-all``) and the synthetic RaFD stand-in (generated with MediaPipe).
On a Dask cluster each worker reads its own cache: warm it there (``python -m course_utils data download-all``
and one run of notebook 05, or this function) before grading.
"""

from __future__ import annotations

from collections.abc import Callable


def warm_cache(rafd: bool = True, say: Callable[[str], None] = print) -> list[str]:
    """Fetch every registered dataset into the cache and, with ``rafd``, generate the RaFD stand-in.

    Already cached, verified files are not fetched again, and a complete stand-in is not regenerated, so a
    warm cache costs a few seconds (hashing the files).

    Parameters
    ----------
    rafd : bool
        Also make sure the RaFD stand-in exists (needs MediaPipe's model, itself a registered dataset).
    say : callable
        Where the one-line messages go.

    Returns
    -------
    list of str
        One line per dataset that could not be made ready (empty when all are); the submissions that need
        it will fail with the loader's own message.
    """
    from ..data import REGISTRY, DataError
    from ..data.cache import cache_dir, fetch

    problems = []
    for name, source in REGISTRY.items():
        try:
            fetch(source)
        except DataError as exc:
            problems.append(f"{name}: {exc}")
    if rafd:
        from ..data.faces import ensure_rafd_standin

        try:
            from ..landmarks import detect_landmarks  # MediaPipe: the kit's faces extra

            ensure_rafd_standin(detect=detect_landmarks, progress=False)
        except (DataError, OSError, ImportError) as exc:
            problems.append(f"RaFD stand-in: {exc}")
    say(f"data cache {cache_dir()}: " + ("ready" if not problems else f"{len(problems)} dataset(s) not ready"))
    for problem in problems:
        say(f"  {problem}")
    return problems
