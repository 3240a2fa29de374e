"""course_utils.notebook: TensorFlow imports without start-up noise; the plotting style is applied."""

import json
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


def test_importing_the_kit_changes_no_environment_variable_and_the_quiet_import_is_explicit():
    """Only import_tensorflow() touches the environment; the kit's modules import without side effects."""
    modules = ["vae", "landmark_vae", "classifiers", "plotting", "report", "notebook", "data", "dmaps", "modes",
               "evacuation", "triplets", "probes", "probes.vae", "instructor.reference.vae",
               "instructor.reference.landmark_vae"]
    code = ("import json, os, sys\n"
            "import keras, tensorflow, tensorflow_probability, sklearn, matplotlib.pyplot\n"  # their own effects
            "before = dict(os.environ)\n"
            + "".join(f"import course_utils.{m}\n" for m in modules)
            + "changed = sorted(set(before.items()) ^ set(os.environ.items()))\n"
            "from course_utils.notebook import import_tensorflow\n"
            "import_tensorflow()\n"
            "print(json.dumps([changed, sorted(set(before) ^ set(os.environ))]))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    changed_by_import, set_by_import_tensorflow = json.loads(done.stdout.strip().splitlines()[-1])
    assert changed_by_import == []
    assert "TF_ENABLE_ONEDNN_OPTS" in set_by_import_tensorflow  # the check sees a change where there is one


def test_report_imports_no_keras():
    code = "import sys\nimport course_utils.report\nprint(sorted({'keras', 'tensorflow'} & set(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


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
