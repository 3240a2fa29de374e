"""The grader against what a submission writes and what it is: texts, links, bombs, ids, and the sandbox itself.

One class of attack per group of tests, written generically (families of characters and shapes, not one
string): text that cannot be written or that a terminal or a spreadsheet would run; inbox entries that are
not regular files, colliding and hidden names, a roster; outputs sized to exhaust the grader's memory;
state that could outlive a submission (uids, keyrings, leftovers). Then a mixed batch, in which honest
submissions sit among broken ones and keep complete reports and full grades. The sandbox's properties are
observed from inside it (a listener the test opens on the host's loopback, mount flags, uid, seccomp mode,
namespaces, errno of refused system calls): removing any one flag of the sandbox fails a test here. Set
``COURSE_KIT_SANDBOX_MUTATION`` (see :data:`MUTATIONS`) to check that by hand. No test depends on time:
the limits are generous and nothing is timed.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import platform
import socket
import stat
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from course_utils.instructor import isolation, seccomp
from course_utils.instructor.batch import read_record
from course_utils.instructor.checks import CheckResult, load_checks
from course_utils.instructor.grade import Grade, Limits, Run, grade_folder, load_submission, run_notebook
from course_utils.instructor.inbox import read_roster, student_name, student_names
from course_utils.instructor.output import MAX_ARRAY, MAX_ARRAYS, read_arrays
from course_utils.instructor.records import grade_from_record, grade_record
from course_utils.instructor.reports import feedback_html, write_reports
from course_utils.instructor.text import (
    MAX_JSON_DEPTH,
    MAX_JSON_VALUES,
    check_json,
    csv_cell,
    safe_file_name,
    safe_text,
)
from tests.conftest import GOOD, TINY_CHECKS

SANDBOX = not isolation.bwrap_problem()
needs_sandbox = pytest.mark.skipif(not SANDBOX, reason=f"no bubblewrap here: {isolation.bwrap_problem()}")
LIMITS = Limits(timeout=600, cell_timeout=300, memory=2 * 1024**3, processes=256, tmp_size=64 * 1024**2)
"""Generous: a loaded machine only makes the tests slower, never different."""

UNSAFE_SAMPLES = ["\x1b]0;title\x07", "\x1b]52;c;Y2xpcA==\x07", "\x1b[2J", "\u202e", "\u2066", "\u200f", "\u061c",
                  "\ufeff", "\x00", "\x7f", "\x85", "\u2028", "\udc80", "\ud800", "\r"]
FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def _notebook(*cells: str) -> dict:
    return {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": c}
                      for c in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _write(path: Path, notebook: dict) -> Path:
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


# --- texts: made safe once, where they enter --------------------------------------------------------------


def _is_safe(text: str) -> bool:
    text.encode("utf-8")  # raises for a lone surrogate
    return not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") and c not in "\n\t" for c in text)


@pytest.mark.parametrize("sample", UNSAFE_SAMPLES + [chr(c) for c in range(0x20)] + [chr(0xE0001)])
def test_every_control_bidi_and_surrogate_character_is_escaped_visibly(sample):
    text = safe_text(f"a{sample}b")
    if sample in "\n\t":
        assert text == f"a{sample}b"
    else:
        assert _is_safe(text) and text.startswith("a\\") and text.endswith("b")
        assert safe_text(text) == text  # idempotent


def test_safe_text_caps_length_and_takes_bytes_and_hostile_objects():
    assert len(safe_text("x" * 10**6, 600)) == 600
    assert safe_text(b"\xff\xfe ok") == "\\xff\\xfe ok"

    class Hostile:
        def __str__(self):
            raise RuntimeError("no")

    assert "unprintable" in safe_text(Hostile())
    assert safe_file_name(os.fsdecode(b"caf\xe9.ipynb")) == "caf\\xe9.ipynb"


@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_cells_that_start_a_formula_are_neutralised(formula):
    cell = csv_cell(formula)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) and _is_safe(cell)
    assert cell.startswith("'") or formula.startswith("\r")  # a CR is escaped visibly: \x0d=1
    assert csv_cell(-1.5) == -1.5 and csv_cell("plain") == "plain"


def test_json_too_deep_or_too_large_is_refused_before_parsing():
    check_json(json.dumps(_notebook("x = [[1]]")), "ok.ipynb")
    depth = MAX_JSON_DEPTH + 1
    for bomb in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        with pytest.raises(ValueError, match="deeper"):
            check_json(bomb, "bomb.ipynb")
    with pytest.raises(ValueError, match="JSON values"):
        check_json(b"[" + b"0," * MAX_JSON_VALUES + b"0]", "wide.ipynb")
    check_json(json.dumps({"s": "[" * 10_000}), "strings are not nesting")


def _hostile_grade(student: str, text: str) -> Grade:
    cells = [{"cell": 0, "status": "error", "first_line": text, "error": text, "error_type": "E", "output": text,
              "seconds": 0.1, "retried": False}]
    run = Run("ok", 1.0, cells=cells, results={"k": text}, message=text, sandbox="bwrap")
    results = [CheckResult("c1", 0.0, 1.0, text), CheckResult("w1", 0.0, 2.0, text, pending=True)]
    return Grade(student, results, run, file=text)


def test_a_record_from_a_worker_or_a_resumed_folder_is_made_safe_on_the_way_in(tmp_path):
    text = "".join(UNSAFE_SAMPLES) + "".join(FORMULAS)
    record = json.loads(json.dumps(grade_record(_hostile_grade("mallory", text))))  # JSON keeps lone surrogates
    grade = grade_from_record(record)
    for value in (grade.file, grade.run.message, grade.results[0].reason, grade.run.cells[0]["error"],
                  grade.run.results["k"]):
        assert _is_safe(value)
    for broken in ({**record, "run": {**record["run"], "seconds": "soon"}}, {**record, "results": [[1]]}):
        with pytest.raises((ValueError, TypeError, KeyError)):
            grade_from_record(broken)
    (tmp_path / "r.json").write_text("[" * 100_000)
    assert read_record(tmp_path / "r.json") is None
    os.symlink(tmp_path / "elsewhere.json", tmp_path / "link.json")
    (tmp_path / "elsewhere.json").write_text(json.dumps(record))
    assert read_record(tmp_path / "link.json") is None and read_record(tmp_path / "elsewhere.json")


def test_reports_are_complete_for_every_student_whatever_the_texts(tmp_path, monkeypatch):
    suite = load_checks(_tiny(tmp_path))
    text = "".join(UNSAFE_SAMPLES) + "=1+1"
    grades = [grade_from_record(json.loads(json.dumps(grade_record(_hostile_grade(f"s{i}", text)))))
              for i in range(3)]
    grades.insert(1, Grade("honest", [CheckResult("c1", 1.0, 1.0, "ok")], Run("ok", 1.0), file="honest.ipynb"))
    import course_utils.instructor.reports as reports

    real = reports.feedback_html
    monkeypatch.setattr(reports, "feedback_html",
                        lambda grade, suite, **options: (_ for _ in ()).throw(RuntimeError("boom"))
                        if grade.student == "s2" else real(grade, suite, **options))
    with pytest.warns(UserWarning, match="s2: a report could not be written"):
        failed = write_reports(grades, suite, tmp_path)
    assert set(failed) == {"s2"}
    assert sorted(p.stem for p in (tmp_path / "feedback").iterdir()) == ["honest", "s0", "s1"]
    for name in ("grades.csv", "summary.csv"):
        raw = (tmp_path / name).read_bytes()
        raw.decode("utf-8")
        assert b"\x1b" not in raw and "\u202e".encode() not in raw and b"\x00" not in raw
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)
    summary = list(csv.DictReader((tmp_path / "summary.csv").open(encoding="utf-8")))
    assert [r["student"] for r in summary] == ["s0", "honest", "s1", "s2"]
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


def test_a_feedback_page_has_a_size_cap(tmp_path):
    suite = load_checks(_tiny(tmp_path))
    grade = Grade("big", [CheckResult("c1", 0.0, 1.0, "x")], Run("ok", 1.0, figures=[b"\x89PNG" + b"0" * 10**6] * 4))
    assert len(feedback_html(grade, suite)) > 4 * 10**6
    page = feedback_html(grade, suite, max_size=100_000)
    assert len(page) <= 100_000 and "big" in page


# --- the inbox: regular files only, ids no one can take --------------------------------------------------


def test_hidden_and_colliding_names_never_keep_or_take_a_clean_id():
    assert student_name(Path(".alice.ipynb")) == "_alice" and student_name(Path("._alice.ipynb")) == "__alice"
    paths = [Path(n) for n in ("alice.ipynb", "Alice.ipynb", "ALICE.ipynb", "bob.ipynb", "alice~1.ipynb")]
    names = student_names(paths)
    assert len(set(names.values())) == len(paths)
    assert names[Path("bob.ipynb")] == "bob" and names[Path("alice~1.ipynb")] == "alice_1"  # no file can name a suffix
    colliding = [names[Path(n)] for n in ("alice.ipynb", "Alice.ipynb", "ALICE.ipynb")]
    assert "alice" not in [n.lower() for n in colliding] and all("~" in n for n in colliding)


def test_a_roster_maps_files_and_reports_the_rest(tmp_path):
    (tmp_path / "roster.csv").write_text("student,file\nalice,alice.ipynb\nbob,hw-bob.ipynb\ncarol,\n")
    assert read_roster(tmp_path / "roster.csv") == {"alice.ipynb": "alice", "hw-bob.ipynb": "bob",
                                                    "carol.ipynb": "carol"}
    for bad in ("student\n=evil\n", "name\nalice\n", "student\nalice\nalice\n"):
        (tmp_path / "bad.csv").write_text(bad)
        with pytest.raises(ValueError, match="bad.csv"):
            read_roster(tmp_path / "bad.csv")


def test_a_notebook_that_is_a_link_a_fifo_or_too_deep_is_not_read(tmp_path):
    good = _write(tmp_path / "good.ipynb", _notebook("x = 1"))
    os.symlink(good, tmp_path / "link.ipynb")
    os.mkfifo(tmp_path / "fifo.ipynb")
    (tmp_path / "deep.ipynb").write_text('{"cells": ' + "[" * 5000 + "]" * 5000 + "}")
    assert load_submission(good)[0] is not None
    assert "symbolic link" in load_submission(tmp_path / "link.ipynb")[1]
    assert "not a regular file" in load_submission(tmp_path / "fifo.ipynb")[1]
    assert "deeper" in load_submission(tmp_path / "deep.ipynb")[1]


# --- a bounded grader ----------------------------------------------------------------------------------


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def test_compressed_arrays_are_measured_before_they_are_expanded():
    bomb = _npz(f__0__0=np.zeros(MAX_ARRAY // 8 + 1))
    assert len(bomb) < MAX_ARRAY // 100
    with pytest.raises(ValueError, match="decompressed"):
        read_arrays(bomb, {"f"})
    many = _npz(**{f"f__{i}__0": np.zeros(MAX_ARRAY // 8) for i in range(MAX_ARRAYS // MAX_ARRAY + 1)})
    with pytest.raises(ValueError, match="in all"):
        read_arrays(many, {"f"})
    ok = read_arrays(_npz(f__0__0=np.arange(3.0), g__0__0=np.ones(2), f__0__1=np.array(["s"])), {"f"})
    assert list(ok) == ["f__0__0"]


# --- nothing outlives a submission ---------------------------------------------------------------------


def test_the_seccomp_program_is_well_formed_for_both_architectures():
    for machine in ("x86_64", "aarch64"):
        program = seccomp.program(machine)
        assert len(program) % 8 == 0 and len(program) // 8 < 4096
    with pytest.raises(seccomp.SeccompUnavailable, match="riscv"):
        seccomp.program("riscv64")


@pytest.mark.skipif(os.geteuid() != 0, reason="uids are leased only when the grader runs as root")
def test_uid_leases_are_unique_across_threads_and_processes_and_freed_by_death(tmp_path, monkeypatch):
    monkeypatch.setattr(isolation, "UID_COUNT", 40)  # a small range, to see it fill up
    held, lock = [], threading.Lock()

    def take():
        lease = isolation.lease_uid(tmp_path)
        with lock:
            held.append(lease)

    threads = [threading.Thread(target=take) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    code = ("import sys, time; from pathlib import Path; from course_utils.instructor import isolation\n"
            "isolation.UID_COUNT = 40\n"
            "print(isolation.lease_uid(Path(sys.argv[1])).uid, flush=True); time.sleep(600)")
    other = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        other_uid = int(other.stdout.readline())
        uids = {lease.uid for lease in held}
        assert len(uids) == 32 and other_uid not in uids
        freed = held.pop()
        freed.release()
        other.kill()
        other.wait()
        rest = [isolation.lease_uid(tmp_path) for _ in range(40 - len(held))]
        held += rest
        assert {freed.uid, other_uid} <= {lease.uid for lease in rest}  # freed by release and by death
        with pytest.raises(isolation.SandboxUnavailable, match="all 40 sandbox uids"):
            isolation.lease_uid(tmp_path)
    finally:
        other.kill()
        for lease in held:
            lease.release()


def test_the_next_grader_removes_what_a_dead_one_left(tmp_path):
    code = ("import os, sys; from pathlib import Path; from course_utils.instructor import isolation\n"
            "folder, _ = isolation.owned_folder('course-kit-batch-', Path(sys.argv[1]))\n"
            "(folder / 'checks.py').write_text('secret'); print(folder, flush=True); os._exit(9)")
    dead = Path(subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True).stdout
                .strip())
    alive, fd = isolation.owned_folder("course-kit-batch-", tmp_path)
    stranger = tmp_path / "course-kit-batch-unlocked"
    stranger.mkdir()
    try:
        assert dead.is_dir()
        removed = isolation.clean_leftovers(tmp_path)
        assert str(dead) in removed and not dead.exists()
        assert alive.is_dir() and stranger.is_dir()
    finally:
        os.close(fd)


# --- the sandbox, observed from inside -----------------------------------------------------------------

MUTATIONS = {
    "unshare-net": ("drop", "--unshare-net"), "unshare-pid": ("drop", "--unshare-pid"),
    "unshare-ipc": ("drop", "--unshare-ipc"), "unshare-uts": ("drop", "--unshare-uts", "--hostname", "grading"),
    "unshare-cgroup": ("drop", "--unshare-cgroup-try"), "seccomp": ("drop", "--seccomp", 1),
    "cap-drop": ("drop", "--cap-drop", 1), "clearenv": ("drop", "--clearenv"),
    "setpriv": ("setpriv",), "release-rw": ("rw", "/opt/course-kit/release"),
    "runner-rw": ("rw", "/opt/course-kit/runner/sandbox.py"),
    "submission-rw": ("rw", "/opt/course-kit/submission.ipynb"),
    "usr-rw": ("rw", "/usr"), "venv-rw": ("rw", os.path.realpath(sys.prefix)),
    "tmp-unbounded": ("tmpsize",), "new-session": ("drop", "--new-session"),
    "die-with-parent": ("drop", "--die-with-parent"),
}
"""Ways to weaken the sandbox, one at a time (``COURSE_KIT_SANDBOX_MUTATION=<name>``), to see a test fail."""


def _mutate(command: list[str], mutation: tuple) -> list[str]:
    command = list(command)
    kind = mutation[0]
    if kind == "drop":
        for flag in mutation[1:]:
            if isinstance(flag, int):
                continue
            while flag in command:
                index = command.index(flag)
                del command[index: index + 1 + (mutation[-1] if isinstance(mutation[-1], int) else 0)]
    elif kind == "setpriv":
        start = command.index("/usr/bin/setpriv")
        del command[start: command.index("--", start) + 1]
    elif kind == "rw":
        for index in range(len(command) - 2):
            if command[index] == "--ro-bind" and command[index + 2] == mutation[1]:
                command[index] = "--bind"
    elif kind == "tmpsize":
        while "--size" in command:
            index = command.index("--size")
            del command[index: index + 2]
    return command


PROBE_NETWORK = '''
import json, os, socket, resource, subprocess, sys
# A child process: the runner's audit hook (a second layer) refuses sockets in the runner itself.
connect = subprocess.run([sys.executable, "-c", "import socket; s = socket.socket(); s.settimeout(20); "
                          "print(s.connect_ex(('127.0.0.1', {port})))"], capture_output=True, text=True).stdout
print(json.dumps({{"connect": int(connect), "uid": os.getuid(), "gid": os.getgid(),
    "groups": os.getgroups(), "hostname": socket.gethostname(), "pid": os.getpid(),
    "env_mark": "COURSE_KIT_HOST_MARK" in os.environ,
    "ns": {{n: os.readlink(f"/proc/self/ns/{{n}}") for n in ("net", "pid", "ipc", "uts", "cgroup", "mnt")}},
    "status": {{k: v.strip() for k, v in (l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
               if k in ("Seccomp", "CapEff", "CapBnd", "CapPrm", "NoNewPrivs")}},
    "init": {{k: v.strip() for k, v in (l.split(":", 1) for l in open("/proc/1/status") if ":" in l)
             if k in ("CapEff", "CapBnd", "CapPrm")}},
    "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0], "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0]}}))
'''
PROBE_MOUNTS = '''
import json, os
points = {points!r}
options = {{}}
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    if fields[4] in points:
        options[fields[4]] = fields[5].split(",")[0]
tmp = os.statvfs("/tmp")
print(json.dumps({{"mounts": options, "tmp_bytes": tmp.f_blocks * tmp.f_frsize}}))
'''
PROBE_SYSCALLS = '''
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def in_child(nr, *args):
    pid = os.fork()
    if pid == 0:
        result = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
        os._exit(0 if result != -1 else min(ctypes.get_errno(), 255))
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
numbers = {numbers!r}
print(json.dumps({{
    "keyctl": in_child(numbers["keyctl"], 0, -4, 0),  # KEYCTL_GET_KEYRING_ID of the user keyring
    "add_key": in_child(numbers["add_key"], 0, 0, 0, 0, -4),
    "unshare_user": in_child(numbers["unshare"], 0x10000000),
    "clone_user": in_child(numbers["clone"], 0x10000000 | 17, 0, 0, 0, 0),
    "io_uring": in_child(numbers["io_uring_setup"], 1, 0),
    "ptrace": in_child(numbers["ptrace"], 16, 1, 0, 0),  # PTRACE_ATTACH to pid 1
    "mount": in_child(numbers["mount"], 0, 0, 0, 0, 0),
    "thread": __import__("threading").Thread(target=lambda: None).start() is None,
}}))
'''


@pytest.fixture(scope="module")
def inside(tmp_path_factory):
    """What a submission observes inside its sandbox (one run of three probe cells), and the host's view."""
    if not SANDBOX:
        pytest.skip(f"no bubblewrap here: {isolation.bwrap_problem()}")
    mutation = MUTATIONS.get(os.environ.get("COURSE_KIT_SANDBOX_MUTATION", ""))
    real = isolation.bwrap_command
    patch = pytest.MonkeyPatch()
    if mutation:
        patch.setattr(isolation, "bwrap_command", lambda *a, **k: _mutate(real(*a, **k), mutation))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    points = ["/usr", "/opt/course-kit/release", "/opt/course-kit/runner/sandbox.py",
              "/opt/course-kit/submission.ipynb", "/opt/course-kit/out", "/home/student", "/tmp",
              os.path.realpath(sys.prefix)]
    numbers = seccomp.SYSCALLS.get(platform.machine(), seccomp.SYSCALLS["x86_64"])
    cells = (PROBE_NETWORK.format(port=listener.getsockname()[1]), PROBE_MOUNTS.format(points=points),
             PROBE_SYSCALLS.format(numbers=numbers))
    path = _write(tmp_path_factory.mktemp("probe") / "probe.ipynb", _notebook(*cells))
    os.environ["COURSE_KIT_HOST_MARK"] = "1"
    try:
        run = run_notebook(path, [], Limits(timeout=600, cell_timeout=300, memory=2 * 1024**3, processes=256,
                                            tmp_size=64 * 1024**2))
    finally:
        del os.environ["COURSE_KIT_HOST_MARK"]
        patch.undo()
    try:
        accepted = listener.accept()[0] is not None
    except OSError:
        accepted = False
    listener.close()
    assert run.status == "ok" and len(run.cells) == 3, (run.status, run.message, run.cells)
    seen = {}
    for cell in run.cells:
        assert cell["status"] == "ok", cell
        seen.update(json.loads(cell["output"].strip().splitlines()[-1]))
    host_ns = {n: os.readlink(f"/proc/self/ns/{n}") for n in seen["ns"]}
    return seen, host_ns, accepted


@needs_sandbox
def test_inside_a_host_loopback_listener_cannot_be_reached(inside):
    seen, host_ns, accepted = inside
    assert seen["connect"] in (errno.ECONNREFUSED, errno.ENETUNREACH) and not accepted
    assert seen["ns"]["net"] != host_ns["net"]


@needs_sandbox
@pytest.mark.parametrize("namespace", ["pid", "ipc", "uts", "cgroup", "mnt"])
def test_inside_every_namespace_is_new(inside, namespace):
    seen, host_ns, _ = inside
    assert seen["ns"][namespace] != host_ns[namespace]
    if namespace == "uts":
        assert seen["hostname"] == "grading"
    if namespace == "pid":
        assert seen["pid"] < 100


@needs_sandbox
def test_inside_the_submission_has_an_unprivileged_uid_no_capabilities_and_a_clean_environment(inside):
    seen, *_ = inside
    if os.geteuid() == 0:
        assert isolation.UID_BASE <= seen["uid"] < isolation.UID_BASE + isolation.UID_COUNT
        assert seen["gid"] == seen["uid"] and seen["groups"] == []
    else:
        assert seen["uid"] == 65534
    assert int(seen["status"]["CapEff"], 16) == 0 and int(seen["status"]["CapPrm"], 16) == 0
    assert seen["status"]["NoNewPrivs"] == "1"
    if os.geteuid() == 0:  # bwrap's own init (pid 1 of the sandbox) keeps only what setpriv needs
        setuid_setgid = (1 << 6) | (1 << 7)
        for key in ("CapEff", "CapPrm"):  # (the bounding set stays: dropping it needs CAP_SETPCAP)
            assert int(seen["init"][key], 16) & ~setuid_setgid == 0, (key, seen["init"][key])
    assert not seen["env_mark"], "the grader's environment reached the sandbox"


@needs_sandbox
def test_inside_everything_but_the_output_and_the_tmpfs_is_read_only(inside):
    seen, *_ = inside
    mounts = seen["mounts"]
    for point in ("/usr", "/opt/course-kit/release", "/opt/course-kit/runner/sandbox.py",
                  "/opt/course-kit/submission.ipynb", os.path.realpath(sys.prefix)):
        if point.startswith("/usr") and point != "/usr":
            continue  # inside /usr: covered by /usr
        assert mounts.get(point) == "ro", (point, mounts)
    assert mounts["/opt/course-kit/out"] == "rw" and mounts["/home/student"] == "rw"
    assert seen["tmp_bytes"] <= 64 * 1024**2


@needs_sandbox
@pytest.mark.skipif(not seccomp.supported(), reason=f"no seccomp filter for {platform.machine()}")
def test_inside_the_seccomp_filter_refuses_keyrings_user_namespaces_io_uring_ptrace_and_mount(inside):
    seen, *_ = inside
    assert seen["status"]["Seccomp"] == "2"
    for call in ("keyctl", "add_key", "unshare_user", "clone_user", "io_uring", "ptrace", "mount"):
        assert seen[call] == errno.EPERM, (call, seen[call])
    assert seen["thread"]


# --- a mixed batch: honest submissions among broken ones ------------------------------------------------


def _tiny(folder: Path) -> Path:
    (folder / "grading").mkdir(exist_ok=True)
    checks = folder / "grading" / "tiny.py"
    checks.write_text(TINY_CHECKS)
    return checks


NPZ_BOMB = ("import numpy as np\n_savez = np.savez\n"
            "def _bomb(file, **arrays):\n"
            "    arrays = {k: np.zeros(2**24) for k in arrays} or {'double__0__0': np.zeros(2**24)}\n"
            "    np.savez_compressed(file, **arrays)\n"
            "np.savez = _bomb")
TEXT_BOMB = ("import sys\nmessage = " + repr("".join(UNSAFE_SAMPLES) + "=HYPERLINK(\"x\")") +
             "\nprint(message)\nsys.stderr.write(message)\nraise ValueError(message)")


@needs_sandbox
def test_a_mixed_batch_gives_honest_submissions_complete_reports_and_full_grades(tmp_path):
    checks = _tiny(tmp_path)
    instructor = _write(tmp_path / "grading" / "tiny_solution.ipynb", _notebook(*GOOD))
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("alice", "bob"):
        _write(subs / f"{name}.ipynb", _notebook(*GOOD))
    _write(subs / ".alice.ipynb", _notebook(*GOOD))  # not on the roster: never alice
    os.symlink(instructor, subs / "mallory_link.ipynb")
    _write(subs / "eve_text.ipynb", _notebook(*GOOD[:2], TEXT_BOMB, GOOD[2]))
    _write(subs / "trudy_npz.ipynb", _notebook(*GOOD, NPZ_BOMB))
    (subs / "oscar_deep.ipynb").write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _write(subs / os.fsdecode(b"zed_\xff\x1b]0;x\x07=1.ipynb"), _notebook(*GOOD[:2]))
    roster = tmp_path / "roster.csv"
    roster.write_text("student,file\nalice,alice.ipynb\nbob,bob.ipynb\nmallory,mallory_link.ipynb\n"
                      "eve,eve_text.ipynb\ntrudy,trudy_npz.ipynb\noscar,oscar_deep.ipynb\ncarol,carol.ipynb\n"
                      "zed," + safe_file_name(os.fsdecode(b"zed_\xff\x1b]0;x\x07=1.ipynb")) + "\n")  # as inbox.csv
    out = tmp_path / "out"
    with pytest.warns(UserWarning):
        grades = {g.student: g for g in grade_folder(subs, checks, out, reference_notebook=tmp_path / "none.ipynb",
                                                     workers=2, limits=LIMITS, roster=roster)}
    for honest in ("alice", "bob"):
        assert grades[honest].points == 3.0 and grades[honest].run.status == "ok", grades[honest].run.message
        page = (out / "feedback" / f"{honest}.html").read_text(encoding="utf-8")
        assert "3 / 3 automatic" in page
    assert "mallory" not in grades, "a link is refused, never followed"
    assert grades["eve"].points == 3.0 and all(_is_safe(c["error"]) for c in grades["eve"].run.cells)
    trudy = {r.check: r for r in grades["trudy"].results}
    assert trudy["answer"].passed and "decompressed" in trudy["double"].reason and not trudy["double"].points
    assert grades["oscar"].run.status == "invalid" and "deeper" in grades["oscar"].run.message
    assert grades["zed"].points == 2.0 and _is_safe(grades["zed"].file)
    inbox = {row["file"] or row["student"]: row for row in csv.DictReader((out / "inbox.csv").open(encoding="utf-8"))}
    assert inbox["mallory_link.ipynb"]["outcome"].startswith("refused: a symbolic link")
    assert inbox[".alice.ipynb"]["outcome"].startswith("unmatched") and inbox[".alice.ipynb"]["student"] == ""
    assert inbox["carol"]["outcome"].startswith("missing")
    summary = list(csv.DictReader((out / "summary.csv").open(encoding="utf-8")))
    assert {r["student"] for r in summary} == set(grades) == {"alice", "bob", "eve", "trudy", "oscar", "zed"}
    for name in ("grades.csv", "summary.csv", "inbox.csv"):
        raw = (out / name).read_bytes().decode("utf-8")
        assert _is_safe(raw.replace("\r\n", "\n")), name
        assert not any(c.startswith(("=", "+", "-", "@")) for row in csv.reader(io.StringIO(raw)) for c in row)
    again = {g.student: g for g in grade_folder(subs, checks, out, reference_notebook=tmp_path / "none.ipynb",
                                                workers=2, limits=LIMITS, roster=roster, resume=True)}
    assert all(g.resumed for g in again.values()) and {s: g.points for s, g in again.items()} == {
        s: g.points for s, g in grades.items()}
    assert stat.S_ISDIR(os.lstat(out / "feedback").st_mode)


GRADER = """
import os, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from course_utils.instructor import isolation
from course_utils.instructor.grade import Limits, grade_folder
from tests.test_grader_hardening import MUTATIONS, _mutate
mutation = MUTATIONS.get(os.environ.get("COURSE_KIT_SANDBOX_MUTATION", ""))
if mutation:
    real = isolation.bwrap_command
    isolation.bwrap_command = lambda *a, **k: _mutate(real(*a, **k), mutation)
grade_folder(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), reference_notebook=Path("none.ipynb"),
             workers=1, limits=Limits(timeout=600, cell_timeout=600, memory=2 * 1024**3))
"""
SLEEPER_MARK = "4243.5"


def _marked() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if SLEEPER_MARK.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@needs_sandbox
def test_a_killed_grader_leaves_no_process_and_the_next_grader_removes_its_leftovers(tmp_path):
    import signal
    import time

    checks = _tiny(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    _write(subs / "sleeper.ipynb", _notebook(*GOOD[:2], f"import subprocess, time\n"
                                                          f"subprocess.Popen(['sleep', '{SLEEPER_MARK}'])\n"
                                                          f"time.sleep(600)"))
    root = str(Path(__file__).resolve().parents[1])
    grader = subprocess.Popen([sys.executable, "-c", GRADER.format(root=root), str(subs), str(checks),
                               str(tmp_path / "out")], cwd=root, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):  # generous: only waits for the sleeper to start
            if _marked():
                break
            assert grader.poll() is None, "the grader ended before the submission started"
            time.sleep(0.5)
        assert _marked(), "the submission's sleeper never started"
        batch = [p for p in Path("/tmp").glob(f"course-kit-batch-{grader.pid}-*")]
        assert batch, "the grader's batch folder was not where expected"
    finally:
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()
    for _ in range(600):  # the sandbox dies with its parent: only waits for the kernel to deliver it
        if not _marked():
            break
        time.sleep(0.1)
    survivors = _marked()
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "a process of the submission outlived the killed grader"
    cgroups = [c for c in isolation.Cgroup.leftovers() if f"course-kit-{grader.pid}-" in c.name]
    removed = isolation.clean_leftovers()
    assert all(str(folder) in removed for folder in batch) and not any(folder.exists() for folder in batch)
    assert not any(c.exists() for c in cgroups)


@needs_sandbox
def test_phase_two_inputs_are_sent_only_after_the_grader_saw_phase_one_end(tmp_path):
    checks = _tiny(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    early = ("import os, select\nos.write(1, b'course-kit:phase2\\n')  # the marker, printed by a cell\n"
             "ready, _, _ = select.select([0], [], [], 300)\n"
             "print('read during phase 1:', len(os.read(0, 1 << 16)) if ready else 'nothing')")
    _write(subs / "early.ipynb", _notebook(GOOD[0], early, *GOOD[1:]))
    _write(subs / "honest.ipynb", _notebook(*GOOD))
    grades = {g.student: g for g in grade_folder(subs, checks, tmp_path / "out", workers=2, limits=LIMITS,
                                                 reference_notebook=tmp_path / "none.ipynb")}
    assert grades["honest"].points == 3.0
    output = grades["early"].run.cells[1]["output"]
    assert "read during phase 1: 0" in output, output  # stdin closed: not one byte of the inputs
    assert "phase 2 was refused" in grades["early"].run.message


@needs_sandbox
def test_an_output_folder_over_its_total_cap_stops_the_submission(tmp_path, monkeypatch):
    import course_utils.instructor.execute as execute

    monkeypatch.setattr(execute, "MAX_OUTPUT", 16 * 1024**2)  # each file stays far under RLIMIT_FSIZE
    checks = _tiny(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    fill = ("import os, time\nfor i in range(64):\n"
            "    open(f'/opt/course-kit/out/fill{i}', 'wb').write(os.urandom(1 << 20))\ntime.sleep(300)")
    many = ("import os, time\nos.makedirs('/opt/course-kit/out/many', exist_ok=True)\nfor i in range(20000):\n"
            "    open(f'/opt/course-kit/out/many/{i}', 'w').close()\ntime.sleep(300)")
    _write(subs / "filler.ipynb", _notebook(*GOOD, fill))
    _write(subs / "many.ipynb", _notebook(*GOOD, many))
    grades = {g.student: g for g in grade_folder(subs, checks, tmp_path / "out", workers=2, limits=LIMITS,
                                                 reference_notebook=tmp_path / "none.ipynb")}
    for name in ("filler", "many"):
        assert grades[name].run.status == "crashed", grades[name].run.message
        assert "wrote more than 16 MiB (or too many files)" in grades[name].run.message


def test_a_grade_record_over_its_cap_is_refused(tmp_path):
    from course_utils.instructor.batch import record_bytes

    grade = Grade("big", [CheckResult("c1", 0.0, 1.0, "x")], Run("ok", 1.0, figures=[b"0" * 40 * 2**20]))
    with pytest.raises(ValueError, match="grade record takes"):
        record_bytes(grade_record(grade))


def test_the_child_runner_exits_with_its_real_status(tmp_path):
    """0 for a notebook that ran (a cell's SystemExit included); 3, with the traceback, when the runner failed."""
    runner = Path(isolation.RUNNER)
    (tmp_path / "out").mkdir()
    (tmp_path / "work").mkdir()
    notebook = _write(tmp_path / "n.ipynb", _notebook("x = 1", "raise SystemExit(5)"))
    spec = {"notebook": str(notebook), "workdir": str(tmp_path / "work"), "out": str(tmp_path / "out"),
            "deny": [], "cell_timeout": 300, "phase2": False, "memory": 0}
    ran = subprocess.run([sys.executable, "-B", str(runner), json.dumps(spec)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert (tmp_path / "out" / "run.json").exists()
    broken = subprocess.run([sys.executable, "-B", str(runner), json.dumps({**spec, "notebook": "/nonexistent"})],
                            capture_output=True, text=True)
    assert broken.returncode == 3 and "FileNotFoundError" in broken.stderr
