"""Benchmark (maintainer): the sparse diffusion map against the dense lecture algorithm (instructor reference).

The two live in ``course_utils.instructor.reference.dmaps`` (never released).
Both run in the same process on the same swiss roll (``sklearn.datasets.make_swiss_roll``, no noise) with
the same parameters (eps = 5 % of the diameter, L = 10). Prints the dense time, the sparse time, their
ratio (goal: at most 0.5) and the largest relative difference of the eigenvalues (goal: at most 1e-6).
Not a test: run it by hand, ``.venv/bin/python tools/bench_dmaps.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.datasets import make_swiss_roll

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from course_utils.instructor.reference.dmaps import DiffusionMap, dense_diffusion_map, fit_diffusion_map  # noqa: E402


def best_time(fit: Callable[[], DiffusionMap], repeat: int) -> tuple[float, DiffusionMap]:
    """Smallest wall-clock time of ``repeat`` calls of ``fit`` and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 when both goals are met, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="number of points (default 5000)")
    parser.add_argument("--eigenfunctions", type=int, default=10, help="L, eigenpairs after phi_0 (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="time each method this often, keep the best")
    parser.add_argument("--seed", type=int, default=0, help="seed of make_swiss_roll (default 0)")
    args = parser.parse_args(argv)

    X = make_swiss_roll(args.n, noise=0.0, random_state=args.seed)[0]
    L = args.eigenfunctions
    print(f"swiss roll: N = {args.n}, L = {L}, seed = {args.seed}, best of {args.repeat}")
    dense_s, dense = best_time(lambda: dense_diffusion_map(X, L), args.repeat)
    sparse_s, sparse = best_time(lambda: fit_diffusion_map(X, L), args.repeat)

    ratio = sparse_s / dense_s
    rel_lambda = float(np.max(np.abs(sparse.eigenvalues - dense.eigenvalues) / dense.eigenvalues))
    rel_a = float(np.max(np.abs(sparse.kernel_eigenvalues - dense.kernel_eigenvalues) / dense.kernel_eigenvalues))
    aligned = sparse.eigenfunctions * np.sign(np.sum(sparse.eigenfunctions * dense.eigenfunctions, axis=0))
    rel_phi = float(np.max(np.abs(aligned - dense.eigenfunctions).max(axis=0)
                           / np.abs(dense.eigenfunctions).max(axis=0)))

    print(f"dense  (scipy.linalg.eigh, {args.n} x {args.n}):     {dense_s:8.3f} s")
    print(f"sparse (radius graph + eigsh, {sparse.mean_neighbors:.0f} neighbours/row): {sparse_s:8.3f} s")
    print(f"ratio sparse / dense: {ratio:.4f}  (goal <= 0.5)")
    print(f"max relative eigenvalue difference: lambda_l {rel_lambda:.2e}, a_l {rel_a:.2e}  (goal <= 1e-6)")
    print(f"max eigenfunction difference (up to sign, relative to each phi_l's largest entry): {rel_phi:.2e}")
    return 0 if ratio <= 0.5 and max(rel_lambda, rel_a) <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
