"""Probe of notebook 06's ``sample_vae`` check: a student's sampler through a decoder with fixed "weights".

Runs inside the grading sandbox (and in the grader on the reference); holds no answer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Decoders with fixed weights, named in the check's cases (a function cannot travel into the sandbox).
DECODERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"sin": np.sin, "tanh": np.tanh, "cos": np.cos}


def probe_sample_vae(function: Callable, decoder: str, latent_dim: int, n: int, seed: int,
                     scale: float) -> np.ndarray:
    """``function(DECODERS[decoder], latent_dim, n, seed, scale)``: ``n`` samples of a VAE with that decoder."""
    if str(decoder) not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; expected one of {sorted(DECODERS)}")
    return function(DECODERS[str(decoder)], int(latent_dim), int(n), int(seed), float(scale))
