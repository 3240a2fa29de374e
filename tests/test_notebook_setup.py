"""course_utils.notebook: TensorFlow imports without start-up noise; the plotting style is applied."""

import os
import subprocess
import sys

import matplotlib as mpl
import numpy as np
import pytest

from course_utils.notebook import setup_notebook, silenced_stderr


def test_import_tensorflow_prints_nothing():
    code = ("from course_utils.notebook import import_tensorflow\n"
            "tf = import_tensorflow()\n"
            "import tensorflow_probability as tfp\n"
            "print(float(tfp.distributions.Normal(0.0, 1.0).log_prob(0.0)))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert float(done.stdout) == pytest.approx(-0.5 * np.log(2 * np.pi), rel=1e-6)  # log N(0; 0, 1), float32


def test_silenced_stderr_restores_the_descriptor(capfd):
    with silenced_stderr():
        os.write(2, b"hidden\n")
    os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"


def test_setup_notebook():
    rng = setup_notebook(seed=5)
    assert isinstance(rng, np.random.Generator)
    assert rng.integers(1000) == np.random.default_rng(5).integers(1000)
    assert mpl.rcParams["axes.grid"] is True and mpl.rcParams["figure.dpi"] == 80


def test_training_profile(monkeypatch):
    import pytest

    from course_utils.notebook import by_profile, training_profile

    monkeypatch.delenv("COURSE_KIT_PROFILE", raising=False)
    assert training_profile() == "full" and by_profile(50, 2) == 50
    monkeypatch.setenv("COURSE_KIT_PROFILE", "small")
    assert training_profile() == "small" and by_profile(50, 2) == 2
    monkeypatch.setenv("COURSE_KIT_PROFILE", "tiny")
    with pytest.raises(ValueError, match="'full' or 'small'"):
        training_profile()
