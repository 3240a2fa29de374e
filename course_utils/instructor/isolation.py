"""The OS sandbox of one submission: bubblewrap (``bwrap``) with an allow-list, and per-submission limits.

What a submission sees (everything else of the machine does not exist for it):

* read-only: ``/usr`` (and the ``/bin``, ``/lib`` links), the Python interpreter and the virtual
  environment at their own paths, the **released** helper package (a copy of ``course_utils`` without
  ``instructor/``, made per batch), the child runner ``sandbox.py``, the data cache and the course files,
  and its own notebook;
* writable: a private, size-capped tmpfs home (its working directory), ``/tmp`` and ``/dev/shm``, and
  its own output folder (one per submission, never shared);
* new PID, network (loopback only), IPC, UTS, mount and cgroup namespaces; a new session;
  ``--die-with-parent``; no capabilities; an unprivileged uid; a seccomp filter (:mod:`.seccomp`: no
  keyring, no new user namespace, no ``io_uring``, ``ptrace`` or ``mount``). Run as root, the grader
  gives each running submission a uid of its own (``200000`` and up), leased host-wide with a lock file
  (:func:`lease_uid`: unique across concurrent batches and workers), and drops to it inside the
  sandbox; run as a user, bwrap makes a user namespace in which the submission is ``nobody``.

A grader that dies leaves its cgroups and batch folders behind; the next grader on the host removes them
(:func:`clean_leftovers`): a batch folder is removed when no living process holds its lock file, a cgroup
when the process named in it is gone.

Limits per submission: a cgroup (memory and process count) where the grader may create one, else
``RLIMIT_AS`` per process and ``RLIMIT_NPROC`` for the submission's uid; ``RLIMIT_FSIZE``, ``RLIMIT_CPU``
and size-capped tmpfs always. When the runner exits, the PID namespace ends and takes every process of the
submission with it (orphans and ``setsid`` children included); at the time limit the grader kills it.
"""

from __future__ import annotations

import compileall
import fcntl
import functools
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "course_utils"
RUNNER = Path(__file__).resolve().with_name("sandbox.py")
BOX = "/opt/course-kit"
HOME = "/home/student"
UID_BASE = 200_000
UID_COUNT = 100_000
UID_LOCKS = Path(os.environ.get("COURSE_KIT_UID_LOCKS", "/run/course-kit/uids"))
"""Host-wide folder of the uid leases (one lock file per uid, held while its sandbox runs)."""
OWNER_LOCK = ".course-kit-owner.lock"
LEFTOVER_PREFIXES = ("course-kit-batch-", "course-kit-worker-", "course-kit-grade-")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install "
                "bubblewrap`; `make env` does it when run as root), or grade without an OS sandbox at your "
                "own risk with --unsafe-no-sandbox")


class SandboxUnavailable(RuntimeError):
    """No OS sandbox on this machine, and the instructor did not allow grading without one."""


class UidLease:
    """An unprivileged uid held by one running sandbox: its lock file stays locked until :meth:`release`.

    The kernel drops the lock when the holder dies, so a dead grader's uids are free again at once.
    """

    def __init__(self, uid: int, fd: int) -> None:
        self.uid, self._fd = uid, fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> UidLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lease_uid(folder: Path | None = None) -> UidLease:
    """A uid no other running sandbox on this host holds (root only), from a random start in the range.

    Each uid ``U`` has a lock file ``folder/U``; a uid is taken by locking its file (``flock``, not
    waiting), so concurrent batches, threads and Dask workers on one host never share one. Raises
    ``SandboxUnavailable`` naming the folder when it cannot be made or every uid is held.
    """
    folder = folder or UID_LOCKS
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SandboxUnavailable(f"cannot make the uid lock folder {folder} ({exc.strerror}); set "
                                 f"COURSE_KIT_UID_LOCKS to a folder on this host that root may write") from exc
    start = secrets.randbelow(UID_COUNT)
    for step in range(UID_COUNT):
        uid = UID_BASE + (start + step) % UID_COUNT
        fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise SandboxUnavailable(f"all {UID_COUNT} sandbox uids in {folder} are held by running sandboxes")


def owned_folder(prefix: str, parent: Path | None = None) -> tuple[Path, int]:
    """A private folder (0700) with a lock file this process holds while it lives: ``(folder, lock fd)``.

    :func:`clean_leftovers` removes such a folder once its lock is free (its process died).
    """
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    os.chmod(folder, 0o700)
    fd = os.open(folder / OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return folder, fd


def _abandoned(folder: Path) -> bool:
    """Whether ``folder`` (ours, not a link) has a lock file that no living process holds."""
    try:
        info = folder.lstat()
        if not folder.is_dir() or folder.is_symlink() or info.st_uid != os.geteuid():
            return False
        fd = os.open(folder / OWNER_LOCK, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def clean_leftovers(parent: Path | None = None) -> list[str]:
    """Remove what dead graders left on this host: batch folders no one holds, cgroups of gone processes.

    Returns what was removed (for a log line). Folders are looked for in ``parent`` (the temporary folder).
    """
    removed = []
    parent = parent or Path(tempfile.gettempdir())
    try:
        entries = [entry for entry in parent.iterdir() if entry.name.startswith(LEFTOVER_PREFIXES)]
    except OSError:
        entries = []
    for entry in entries:
        if _abandoned(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(str(entry))
    for folder in Cgroup.leftovers():
        Cgroup.remove_folder(folder)
        removed.append(str(folder))
    return removed


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str:
    """Empty if bubblewrap works here (a trivial sandbox starts and exits), else why not."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return "bubblewrap (bwrap) is not installed"
    command = [bwrap, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    if os.geteuid() == 0:
        command[-1:] = ["setpriv", f"--reuid={UID_BASE}", f"--regid={UID_BASE}", "--clear-groups", "true"]
    from . import seccomp

    fd = seccomp.program_fd() if seccomp.supported() else None
    if fd is not None:  # the filter must load here too, or every submission would fail to start
        command[1:1] = ["--seccomp", str(fd)]
    try:
        result = subprocess.run(command, capture_output=True, timeout=30, pass_fds=() if fd is None else (fd,))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap does not start ({exc})"
    finally:
        if fd is not None:
            os.close(fd)
    if result.returncode:
        return f"bwrap cannot create its namespaces here: {result.stderr.decode(errors='replace').strip()[:300]}"
    return ""


def _namespaces() -> list[str]:
    common = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:  # privileged bwrap; the runner drops to its own uid with setpriv
        return [*common, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return [*common, "--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]


@dataclass
class Shared:
    """What every submission of a batch sees read-only: the released package and the data."""

    package: Path  # a folder holding the released ``course_utils``
    cache: Path | None = None
    course: Path | None = None
    rafd: Path | None = None
    fontlist: Path | None = None  # Matplotlib's font cache, so that no sandbox rebuilds it
    overlays: dict[str, Path] = field(default_factory=dict)  # sandbox path -> readable copy of a private file


def release_package(folder: Path, withheld: tuple[str, ...] = (), in_calls: tuple[str, ...] = (),
                    exercise: str = "") -> Path:
    """Copy the helper package without ``instructor/`` into ``folder`` (compiled); return ``folder``.

    ``withheld`` and ``in_calls``: the exercise's kit functions withheld while grading it (see :mod:`.withhold`).
    """
    from .release import PACKAGE_IGNORE
    from .withhold import apply

    shutil.copytree(PACKAGE, folder / "course_utils", ignore=PACKAGE_IGNORE)
    compileall.compile_dir(folder / "course_utils", quiet=1)
    if withheld or in_calls:
        apply(folder, withheld, in_calls, exercise)
    return folder


def private_files(source: Path) -> list[Path]:
    """Files under ``source`` that others may not read (as root, each submission's own uid could not)."""
    if os.geteuid() != 0:
        return []
    return [Path(folder, name) for folder, _, files in os.walk(source) for name in files
            if not os.stat(os.path.join(folder, name)).st_mode & 0o004]


def shared_for_batch(folder: Path, withheld: tuple[str, ...] = (), in_calls: tuple[str, ...] = (),
                     exercise: str = "") -> Shared:
    """The batch's read-only view, made in ``folder``: the released package, the data cache, course files.

    A batch is one exercise: ``withheld``/``in_calls`` are its kit functions withheld while grading it.
    """
    from ..data.cache import cache_dir

    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    shared = Shared(release_package(folder / "release", tuple(withheld), tuple(in_calls), exercise))
    cache = cache_dir()
    shared.cache = cache if cache.is_dir() else None
    course = Path(os.environ.get("COURSE_KIT_COURSE_DIR") or ROOT / "data" / "course")
    shared.course = course if course.is_dir() else None
    rafd = os.environ.get("COURSE_KIT_RAFD_DIR")
    shared.rafd = Path(rafd) if rafd and Path(rafd).is_dir() else None
    copies = folder / "readable"
    for source, name in ((shared.cache, "cache"), (shared.course, "course"), (shared.rafd, "rafd")):
        # As root each submission runs under its own uid, which cannot read the instructor's private
        # (0600) files: a world-readable copy of each is bound over it, made once per batch.
        for number, private in enumerate(private_files(source) if source else []):
            copies.mkdir(mode=0o755, exist_ok=True)
            copy = copies / f"{name}-{number}"
            shutil.copyfile(private, copy)
            os.chmod(copy, 0o644)
            shared.overlays[f"{BOX}/{name}/{private.relative_to(source)}"] = copy
    try:
        import matplotlib
        from matplotlib import font_manager

        font_manager.fontManager  # noqa: B018 (builds the cache file if missing)
        fontlist = next(Path(matplotlib.get_cachedir()).glob("fontlist-v*.json"), None)
        if fontlist is not None:
            shared.fontlist = folder / fontlist.name
            shutil.copyfile(fontlist, shared.fontlist)
            os.chmod(shared.fontlist, 0o644)
    except (ImportError, OSError):
        shared.fontlist = None
    return shared


def _parents(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def bwrap_command(shared: Shared, notebook: Path, out: Path, uid: int | None, argv: list[str],
                  env: dict[str, str], tmp_size: int, seccomp_fd: int | None = None) -> list[str]:
    """The bwrap command line running ``argv`` (the runner) in the sandbox of one submission.

    ``seccomp_fd``: a file descriptor holding the seccomp program (:func:`.seccomp.program_fd`), passed
    to the child with ``pass_fds``.
    """
    command = [shutil.which("bwrap") or "bwrap", *_namespaces(), "--hostname", "grading", "--clearenv"]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    made: set[str] = set()

    def bind(source: Path | str, destination: str, flag: str = "--ro-bind") -> None:
        for parent in _parents(destination):
            if parent not in made:
                command.extend(["--perms", "0755", "--dir", parent])
                made.add(parent)
        command.extend([flag, str(source), destination])

    command += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    for name in ("bin", "lib", "lib64", "lib32", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            command += ["--ro-bind", str(path), str(path)]
    for size, folder in ((tmp_size, "/tmp"), (tmp_size, HOME), (tmp_size // 4, "/dev/shm")):
        for parent in _parents(folder):
            if parent not in made and parent != "/dev":
                command.extend(["--perms", "0755", "--dir", parent])
                made.add(parent)
        command += ["--perms", "1777", "--size", str(size), "--tmpfs", folder]
    prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    for prefix in sorted(prefixes):
        if Path(ROOT).resolve().is_relative_to(prefix):
            raise SandboxUnavailable(f"the interpreter's prefix {prefix} contains the instructor's repository "
                                     f"{ROOT}; use a virtual environment inside or beside it (`make env`)")
        if not prefix.startswith("/usr"):
            bind(prefix, prefix)
    for site in sorted({p for p in sys.path if p.endswith("site-packages") and Path(p, "course_utils").is_dir()}):
        bind_hidden = str(Path(site, "course_utils"))  # a non-editable install would carry instructor/
        command += ["--perms", "0555", "--tmpfs", bind_hidden]
    bind(shared.package, f"{BOX}/release")
    bind(RUNNER, f"{BOX}/runner/sandbox.py")
    bind(notebook, f"{BOX}/submission.ipynb")
    command += ["--perms", "1777", "--dir", "/tmp/mpl"]
    if shared.fontlist is not None:
        command += ["--ro-bind", str(shared.fontlist), f"/tmp/mpl/{shared.fontlist.name}"]
    bind(out, f"{BOX}/out", "--bind")
    variables = dict(env)
    for source, name, variable in ((shared.cache, "cache", "COURSE_KIT_CACHE"),
                                   (shared.course, "course", "COURSE_KIT_COURSE_DIR"),
                                   (shared.rafd, "rafd", "COURSE_KIT_RAFD_DIR")):
        if source is not None:
            bind(source, f"{BOX}/{name}")
            variables[variable] = f"{BOX}/{name}"
    for destination, copy in sorted(shared.overlays.items()):
        command += ["--ro-bind", str(copy), destination]
    variables.update({"HOME": HOME, "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
                      "PYTHONPATH": f"{BOX}/release", "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": "/tmp/mpl",
                      "KERAS_HOME": f"{HOME}/.keras", "USER": "student"})
    for name, value in sorted(variables.items()):
        command += ["--setenv", name, value]
    command += ["--chdir", HOME, "--"]
    if uid is not None:
        command += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--"]
    return command + argv


class Cgroup:
    """A cgroup (v2, or v1 memory + pids) holding one submission, where this process may create one."""

    def __init__(self, name: str, memory: int, processes: int, cpus: float = 1.0) -> None:
        self.folders: list[Path] = []
        self.procs: list[str] = []
        try:
            self._make(name, memory, processes)
        except OSError:
            self.remove()
            self.folders, self.procs = [], []
            return
        self._limit_cpu(name, cpus)

    def _limit_cpu(self, name: str, cpus: float) -> None:
        """At most ``cpus`` cores for the whole submission (a fork bomb cannot take the machine), if possible."""
        root, quota = Path("/sys/fs/cgroup"), int(cpus * 100_000)
        try:
            if (root / "cgroup.controllers").exists():
                (self.folders[0] / "cpu.max").write_text(f"{quota} 100000")
            elif (root / "cpu").is_dir():
                own = next((line.split(":", 2)[2].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                            if "cpu" in line.split(":", 2)[1].split(",")), "/")
                folder = root / "cpu" / own.lstrip("/") / name
                folder.mkdir()
                self.folders.append(folder)
                (folder / "cpu.cfs_period_us").write_text("100000")
                (folder / "cpu.cfs_quota_us").write_text(str(quota))
                self.procs.append(str(folder / "cgroup.procs"))
        except OSError:
            pass

    def _make(self, name: str, memory: int, processes: int) -> None:
        root = Path("/sys/fs/cgroup")
        own = {line.split(":", 2)[1]: line.split(":", 2)[2].strip()
               for line in Path("/proc/self/cgroup").read_text().splitlines() if line.count(":") >= 2}
        if (root / "cgroup.controllers").exists():
            folder = root / own.get("", "/").lstrip("/") / name
            folder.mkdir()
            self.folders.append(folder)
            (folder / "memory.max").write_text(str(memory))
            (folder / "pids.max").write_text(str(processes))
            if (folder / "memory.swap.max").exists():
                (folder / "memory.swap.max").write_text("0")
        else:
            for controller, limits in (("memory", {"memory.limit_in_bytes": memory}),
                                       ("pids", {"pids.max": processes})):
                if not (root / controller).is_dir():
                    raise OSError(f"no cgroup {controller} controller")
                folder = root / controller / own.get(controller, "/").lstrip("/") / name
                folder.mkdir()
                self.folders.append(folder)
                for key, value in limits.items():
                    (folder / key).write_text(str(value))
        self.procs = [str(folder / "cgroup.procs") for folder in self.folders]

    @property
    def active(self) -> bool:
        return bool(self.procs)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the submission for memory."""
        for folder in self.folders:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                try:
                    for line in (folder / name).read_text().splitlines():
                        if line.startswith(key + " ") and int(line.split()[1]) > 0:
                            return True
                except (OSError, ValueError):
                    continue
        return False

    @staticmethod
    def leftovers() -> list[Path]:
        """This host's cgroups named ``course-kit-<pid>-...`` whose process ``<pid>`` is gone (a dead grader's)."""
        root = Path("/sys/fs/cgroup")
        try:
            own = {line.split(":", 2)[1]: line.split(":", 2)[2].strip()
                   for line in Path("/proc/self/cgroup").read_text().splitlines() if line.count(":") >= 2}
        except OSError:
            return []
        parents = ([root / own.get("", "/").lstrip("/")] if (root / "cgroup.controllers").exists() else
                   [root / c / own.get(c, "/").lstrip("/") for c in ("memory", "pids", "cpu")])
        found = []
        for parent in parents:
            try:
                names = [entry.name for entry in os.scandir(parent) if entry.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            for name in names:
                match = re.fullmatch(r"course-kit-(\d+)-[0-9a-f]+", name)
                if match and not _alive(int(match.group(1))):
                    found.append(parent / name)
        return found

    @staticmethod
    def remove_folder(folder: Path) -> None:
        """Kill the processes of the cgroup ``folder`` and delete it."""
        import time

        for _ in range(50):
            try:
                pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            time.sleep(0.05)
        try:
            folder.rmdir()
        except OSError:
            pass

    def remove(self) -> None:
        """Kill what is left in it and delete it."""
        for folder in self.folders:
            self.remove_folder(folder)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (in this PID namespace)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def user_tasks(uid: int) -> int:
    """Tasks (threads) that ``uid`` runs now, as RLIMIT_NPROC counts them."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                status = Path(entry.path, "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields.get("Uid", "-1").split()[0]) == uid:
                count += int(fields.get("Threads", "1").strip())
    return count


def limit_setter(cgroup: Cgroup | None, memory: int, processes: int, file_size: int, cpu: int,
                 uid: int | None) -> callable:
    """A ``preexec_fn``: join the cgroup, set the rlimits (inherited by every process of the submission)."""
    import resource  # Unix only: imported where used, so the module imports on Windows

    procs = cgroup.procs if cgroup else []
    nproc = processes if uid is not None else user_tasks(os.getuid()) + processes
    limits = [(resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_FSIZE, file_size), (resource.RLIMIT_CPU, cpu),
              (resource.RLIMIT_CORE, 0)]
    if memory:
        limits.append((resource.RLIMIT_AS, memory))

    def apply() -> None:
        for path in procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")  # "0": the writing process itself
            finally:
                os.close(fd)
        for which, value in limits:
            resource.setrlimit(which, (value, value))

    return apply
