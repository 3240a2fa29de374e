"""Hostile submissions against the grader's OS sandbox (bubblewrap), in one batch of notebook 01 with 2 workers.

Every attack is a few cells appended to the first part of notebook 01's student release (imports, the
exercise stub and its tests). An attack that reads the hidden checks defines ``lost_energy`` from them
(``steal``), so a leak shows as points. Each hostile submission must score no more than the untouched
release; the instructor's tree, the virtual environment, the other submissions and the output folder
must be byte-identical afterwards; the honest submission keeps its grade. CI installs bubblewrap
(``make env``), so this module runs there; without bwrap it fails rather than skips, unless
``COURSE_KIT_ALLOW_NO_SANDBOX=1`` says that this machine cannot have one.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_utils.instructor import release as R
from course_utils.instructor.checks import load_checks
from course_utils.instructor.grade import Limits, grade_folder, load_submission, run_notebook, student_names
from course_utils.instructor.isolation import SandboxUnavailable, bwrap_problem

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "grading" / "01_pca.py"
REFERENCE = ROOT / "notebooks" / "01_pca.ipynb"
SECRETS = [str(GRADING), str(REFERENCE), str(ROOT / "course_utils" / "instructor" / "grade.py")]
ORPHAN_MARK = "4242.125"

if bwrap_problem() and os.environ.get("COURSE_KIT_ALLOW_NO_SANDBOX") == "1":
    pytest.skip(f"no OS sandbox on this machine ({bwrap_problem()})", allow_module_level=True)

PRELUDE = f'''
import os, sys, subprocess
SECRETS = {SECRETS!r}
ROOT = {str(ROOT)!r}
def steal(text):
    """A leaked checks file becomes full marks: its reference implementation is the answer."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    if "_lost_energy" in text and "CHECKS" in text:
        namespace = {{}}
        exec(text, namespace)
        globals()["lost_energy"] = namespace["_lost_energy"]
        return True
    return False
def attempt(name, action):
    try:
        return steal(action())
    except BaseException as exc:  # noqa
        print(name, "failed:", type(exc).__name__, str(exc)[:80])
'''

ATTACKS: dict[str, list[str]] = {
    "read_via_processes": [
        "attempt('cat', lambda: subprocess.run(['cat', SECRETS[0]], capture_output=True).stdout)",
        "os.system(f'cat {SECRETS[0]} > /tmp/leak; cp {SECRETS[0]} leak2')\n"
        "attempt('system', lambda: open('/tmp/leak').read() + open('leak2').read())",
        "attempt('git', lambda: subprocess.run(['git', '-C', ROOT, 'show', 'HEAD:grading/01_pca.py'],"
        " capture_output=True).stdout)",
        "attempt('find', lambda: subprocess.run('find / -name 01_pca.py -exec cat {} +', shell=True,"
        " capture_output=True).stdout)",
    ],
    "read_via_c_and_descriptors": [
        "import ctypes\nlibc = ctypes.CDLL(None)\ndef c_read(path):\n    fd = libc.open(path.encode(), 0)\n"
        "    buf = ctypes.create_string_buffer(1 << 16)\n    n = libc.read(fd, buf, 1 << 16)\n"
        "    assert n > 0, 'nothing read'\n    return buf.raw[:n]\nattempt('ctypes', lambda: c_read(SECRETS[0]))",
        "root = os.open('/', os.O_RDONLY)\n"
        "attempt('dir_fd', lambda: os.read(os.open(SECRETS[0].lstrip('/'), os.O_RDONLY, dir_fd=root), 1 << 16))",
        "attempt('proc_root', lambda: open('/proc/1/root' + SECRETS[0]).read())",
        "attempt('parent_mem', lambda: open(f'/proc/{os.getppid() or 1}/mem', 'rb').read(4096))",
        "attempt('git_dir', lambda: open(ROOT + '/.git').read() + open(ROOT + '/.git/HEAD').read())",
    ],
    "read_via_links": [
        "attempt('hardlink', lambda: (os.link(SECRETS[0], 'hard'), open('hard').read())[1])",
        "attempt('symlink', lambda: (os.symlink(SECRETS[0], 'soft'), open('soft').read())[1])",
        "attempt('instructor_pkg', lambda: __import__('course_utils.instructor.grade'))",
    ],
    "read_via_tensorflow": [
        "from course_utils.notebook import import_tensorflow\ntf = import_tensorflow()\n"
        "attempt('gfile', lambda: tf.io.gfile.GFile(SECRETS[0]).read())\n"
        "attempt('gfile_glob', lambda: str(tf.io.gfile.glob(ROOT + '/grading/*')))",
    ],
    "write_outside": [
        "import glob, site\ntargets = [ROOT + '/course_utils/report.py', ROOT + '/grading/01_pca.py',\n"
        "           '/opt/course-kit/release/course_utils/report.py', *glob.glob(ROOT + '/**/*.ipynb', recursive=True)]\n"  # noqa: E501
        "for path in targets:\n    attempt('append ' + path, lambda: open(path, 'a').write('\\nraise SystemExit'))\n"
        "for folder in site.getsitepackages():\n"
        "    attempt('pth', lambda: open(folder + '/zz_evil.pth', 'w').write('import os'))\n"
        "attempt('unlink', lambda: os.remove(SECRETS[0]))\n"
        "attempt('replace', lambda: os.replace('/opt/course-kit/submission.ipynb', '/opt/course-kit/x'))\n"
        "attempt('venv_bin', lambda: open(sys.executable, 'ab').write(b'x'))",
        "import shutil\nfor victim in ['/opt/course-kit/release', '/opt/course-kit', ROOT, os.path.dirname(sys.prefix)]:\n"  # noqa: E501
        "    attempt('rmtree ' + victim, lambda: shutil.rmtree(victim))\n"
        "attempt('fill_tmp', lambda: open('/tmp/big', 'wb').write(b'0' * 2**30))",
    ],
    "forged_output": [
        "import json\nfig = '/opt/course-kit/out/figures'\nos.makedirs(fig, exist_ok=True)\n"
        "os.symlink(SECRETS[0], fig + '/cell000_00.png')\n"
        "json.dump({'cells': [], 'results': {'raccoon_loss_L10': 0.5, 'x' * 300: 'y' * 10**6},\n"
        "           'calls': {'lost_energy': {'cases': [{'n_values': 1}] * 40}, 'ghost': {'cases': []}},\n"
        "           'figures': ['../../../../' + SECRETS[0], SECRETS[1], 'figures/cell000_00.png', 'figures/../run.json']},\n"  # noqa: E501
        "          open('/opt/course-kit/out/run.json', 'w'))\n"
        "sys.stderr.write('\\x00,\"\\n' * 10**6)\nsys.stderr.flush()\nos._exit(0)",
    ],
    "huge_stderr_and_events": [
        "os.write(2, b'\\x00' * (60 * 2**20))\nopen('/opt/course-kit/out/events.jsonl', 'a').write('{' * 10**6 + '\\n')",  # noqa: E501
        "raise ValueError('x' * 10**6 + '\\x00')",
    ],
    "orphans_and_network": [
        f"subprocess.Popen(['setsid', 'sh', '-c', 'sleep {ORPHAN_MARK}; echo hacked > /opt/course-kit/out/run.json'])\n"
        "if os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(600)\n    os._exit(0)",
        "import socket, ctypes\nattempt('tcp', lambda: socket.create_connection(('1.1.1.1', 80), timeout=3))\n"
        "attempt('dns', lambda: socket.getaddrinfo('example.com', 80))\n"
        "attempt('python_child', lambda: subprocess.run([sys.executable, '-c', 'import socket;"
        " socket.create_connection((\"1.1.1.1\", 80), timeout=3)'], check=True))",
    ],
    "fork_bomb": [
        "import time",
        "import signal\nbomb = subprocess.Popen(['sh', '-c', 'f() { f | f & }; f'], start_new_session=True)\n"
        "time.sleep(3)\nos.killpg(bomb.pid, signal.SIGSTOP)  # a still snapshot: no process churns while counted\n"
        "time.sleep(0.5)\nvisible = len([p for p in os.listdir('/proc') if p.isdigit()])\n"
        "print('processes at the bomb\\'s peak:', visible)\n"
        "attempt('fork_after_bomb', lambda: os.fork() or os._exit(0))\n"
        "for _ in range(20):\n    try:\n        os.killpg(bomb.pid, signal.SIGKILL)\n"
        "    except ProcessLookupError:\n        break\n    time.sleep(0.1)",
    ],
}


def _base() -> dict:
    """Notebook 01's student release up to the tests of the exercise defining ``lost_energy`` (keeps it quick)."""
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    tests_cell = next(e for e in R.exercises(reference) if "lost_energy" in e.functions).cell_index + 1
    student = R.student_notebook(reference)
    student["cells"] = student["cells"][: tests_cell + 1]
    return student


def _with(notebook: dict, *sources: str) -> dict:
    notebook = copy.deepcopy(notebook)
    for source in sources:
        notebook["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                  "source": source})
    return notebook


TEST_RUN_CACHES = (".pytest_cache", "__pycache__", "dask-scratch-space")


def _hash_files(files: list[Path], base: Path) -> dict[str, str]:
    digests = {}
    for path in sorted(files):
        if path.is_symlink():
            digests[str(path.relative_to(base))] = "link:" + os.readlink(path)
        elif path.is_file():
            digests[str(path.relative_to(base))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _instructor_tree() -> dict[str, str]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    digests = _hash_files([ROOT / name for name in listed if name] + [ROOT / ".git"], ROOT)
    for command in (["git", "rev-parse", "HEAD"], ["git", "status", "--porcelain", "--ignored"]):
        lines = subprocess.run(command, cwd=ROOT, capture_output=True).stdout.decode().splitlines()
        # Tests running beside this one in other pytest-xdist workers may create these caches meanwhile.
        digests[" ".join(command)] = [line for line in lines if not line.rstrip("/").endswith(TEST_RUN_CACHES)]
    return digests


def _venv() -> dict[str, str]:
    prefix = Path(sys.prefix)
    sites = [Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    digests = {"site listing": "\n".join(sorted(str(p) for s in sites for p in s.iterdir())),
               "bin listing": "\n".join(sorted(p.name for p in (prefix / "bin").iterdir()))}
    files = [f for s in sites for f in s.glob("*.pth")] + [f for s in sites for f in s.glob("__editable__*")]
    files += [prefix / "pyvenv.cfg", Path(os.path.realpath(sys.executable))]
    digests.update(_hash_files([f for f in files if f.is_relative_to(prefix)], prefix))
    digests["interpreter"] = hashlib.sha256(Path(os.path.realpath(sys.executable)).read_bytes()).hexdigest()
    return digests


def _orphans() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if ORPHAN_MARK.encode() in (entry / "cmdline").read_bytes():
                    found.append(entry.name)
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Grade every attack, the untouched release and an honest solution in one batch (2 workers)."""
    if bwrap_problem():
        pytest.fail(f"the hostile-submission suite needs bubblewrap: {bwrap_problem()} (run `make env` as root)")
    tmp = tmp_path_factory.mktemp("hostile")
    subs, out = tmp / "submissions", tmp / "out"
    subs.mkdir()
    out.mkdir()
    (out / "previous_batch.csv").write_text("student,points\nsomeone,9\n")
    base = _base()
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    honest = copy.deepcopy(base)
    for exercise in R.exercises(reference):  # every exercise in the base solved as the instructor did
        if exercise.cell_index < len(honest["cells"]):
            honest["cells"][exercise.cell_index] = copy.deepcopy(reference["cells"][exercise.cell_index])
    notebooks = {"honest": honest, "untouched_release": base, "victim_classmate": honest}
    for name, cells in ATTACKS.items():
        notebooks[name] = _with(base, PRELUDE, *cells)
    for name, notebook in notebooks.items():
        (subs / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    before = {"tree": _instructor_tree(), "venv": _venv(), "subs": _hash_files(list(subs.iterdir()), subs),
              "out": _hash_files(list(out.iterdir()), out)}
    start = time.perf_counter()
    grades = grade_folder(subs, GRADING, out, workers=2,
                          limits=Limits(timeout=240, cell_timeout=60, memory=3 * 1024**3, processes=256,
                                        tmp_size=256 * 1024**2))
    wall = time.perf_counter() - start
    print(f"\nhostile batch: {len(grades)} submissions in {wall:.1f} s with 2 workers")
    for g in grades:
        print(f"  {g.student:<26} {g.points:g}/{g.max_points:g} {g.run.seconds:6.1f} s {g.run.status} "
              f"{g.run.message[:90]}")
    time.sleep(1)
    after = {"tree": _instructor_tree(), "venv": _venv(), "subs": _hash_files(list(subs.iterdir()), subs),
             "out": _hash_files([p for p in out.iterdir() if p.name == "previous_batch.csv"], out)}
    return {g.student: g for g in grades}, before, after, out


@pytest.mark.network
def test_honest_submissions_keep_their_grades(hostile):
    grades, *_ = hostile
    for name in ("honest", "victim_classmate"):
        lost = next(r for r in grades[name].results if r.check == "lost_energy")
        assert lost.passed, lost.reason
    release = next(r for r in grades["untouched_release"].results if r.check == "lost_energy")
    assert release.points == 0 and "not done yet" in release.reason


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_no_attack_scores_more_than_the_untouched_release(hostile, attack):
    grades, *_ = hostile
    assert grades[attack].points <= grades["untouched_release"].points, [
        (r.check, r.reason) for r in grades[attack].results if r.points]


def test_the_instructor_tree_venv_submissions_and_outputs_are_untouched(hostile):
    _, before, after, _ = hostile
    for key in ("tree", "venv", "subs"):
        changed = {k for k in before[key].keys() | after[key].keys() if before[key].get(k) != after[key].get(k)}
        assert not changed, f"{key}: {sorted(changed)[:10]}"
    assert before["out"] == after["out"]


def test_no_process_of_a_submission_outlives_it(hostile):
    assert not _orphans(), "a setsid child of a submission is still running"


def test_forged_and_oversized_output_is_contained(hostile):
    grades, _, _, out = hostile
    forged = grades["forged_output"]
    assert not forged.run.figures, "figure names are not paths, and links are not followed"
    assert all(len(key) <= 200 and len(str(value)) <= 500 for key, value in forged.run.results.items())
    suite = load_checks(ROOT / "grading" / "01_pca.py")
    index, check = next((i, c) for i, c in enumerate(suite.function_checks) if c.id == "lost_energy")
    cases = len(check.make_cases(index))  # the grader's count (seed 0), whatever the forged report claims (40)
    assert len(forged.run.calls.get("lost_energy", {"cases": []}).get("cases", [])) <= cases
    assert "ghost" not in forged.run.calls
    page = (out / "feedback" / "forged_output.html").read_text(encoding="utf-8")
    assert "_lost_energy" not in page and "CHECKS" not in page
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    assert {r["student"] for r in rows} == set(grades) and all(len(r["reason"]) <= 2000 for r in rows)
    assert all("\x00" not in r["reason"] for r in rows)
    huge = grades["huge_stderr_and_events"]
    assert huge.run.status == "ok" and all(len(c["error"]) <= 600 for c in huge.run.cells)
    summary = list(csv.DictReader((out / "summary.csv").open(encoding="utf-8")))
    assert summary and {r["sandbox"] for r in summary} <= {"bwrap + cgroup + seccomp", "bwrap + rlimits + seccomp"}


def test_attacks_fail_for_the_right_reasons(hostile):
    grades, *_ = hostile
    outputs = "\n".join(c["output"] for c in grades["read_via_c_and_descriptors"].run.cells)
    assert "ctypes failed" in outputs and "dir_fd failed" in outputs
    network = "\n".join(c["output"] for c in grades["orphans_and_network"].run.cells)
    assert "tcp failed" in network and "python_child failed" in network
    fork = grades["fork_bomb"]
    assert fork.run.status == "ok", fork.run.message
    peak = next(c["output"] for c in fork.run.cells if "bomb's peak" in c["output"])
    assert int(peak.split("peak:")[1].split()[0]) <= 256 + 8, peak


def test_memory_is_limited_per_submission_not_per_process(tmp_path):
    """Three children of 400 MiB each in a 1 GiB submission: with a cgroup the kernel kills one of them."""
    cell = ("import subprocess, sys, time\nprocs = [subprocess.Popen([sys.executable, '-c',"
            " 'b = b\"x\" * (400 * 2**20); import time; time.sleep(60)']) for _ in range(3)]\n"
            "for _ in range(900):  # until the kernel has killed one (or 90 s)\n"
            "    if any(p.poll() is not None for p in procs):\n        break\n    time.sleep(0.1)\n"
            "print([p.poll() for p in procs])\nfor p in procs:\n    p.kill()")
    path = tmp_path / "greedy.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                           "source": cell}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    run = run_notebook(path, [], Limits(timeout=150, cell_timeout=120, memory=1024**3))
    assert run.status == "ok", run.message
    if run.sandbox.startswith("bwrap + cgroup"):
        assert "-9" in run.cells[0]["output"], run.cells[0]["output"]
    else:  # rlimits only: each process stays under its own address-space limit
        pytest.skip("no cgroup here: memory is limited per process only")


def test_grading_refuses_without_a_sandbox_unless_told(tmp_path, monkeypatch):
    from course_utils.instructor import isolation

    monkeypatch.setattr(isolation, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.ipynb").write_text(json.dumps(_base()))
    with pytest.raises(SandboxUnavailable, match="unsafe-no-sandbox"):
        grade_folder(tmp_path / "subs", GRADING, tmp_path / "out", limits=Limits())
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_student_names_stay_unique_after_sanitising():
    names = student_names([Path("a b.ipynb"), Path("a?b.ipynb"), Path("a_b.ipynb"), Path("A_B.ipynb")])
    assert len(set(names.values())) == 4
    assert sorted(names.values()) == ["A_B~1", "a_b~2", "a_b~3", "a_b~4"]  # none keeps the clean id


def test_old_and_empty_notebooks_get_clear_reasons(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "x = 1", "language": "python", "outputs": [], "metadata": {}}]}]}
    (tmp_path / "v3.ipynb").write_text(json.dumps(v3))
    notebook, problem = load_submission(tmp_path / "v3.ipynb")
    assert not problem and notebook["nbformat"] == 4 and R.cell_source(notebook["cells"][0]) == "x = 1"
    (tmp_path / "empty.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                                       "cells": []}))
    assert "has no code cells" in load_submission(tmp_path / "empty.ipynb")[1]
    (tmp_path / "v2.ipynb").write_text(json.dumps({"nbformat": 2, "worksheets": "?"}))
    assert "nbformat 2" in load_submission(tmp_path / "v2.ipynb")[1]
