"""The OS sandbox of one submission: bubblewrap (``bwrap``) with an allow-list, and per-submission limits.

What a submission sees (everything else of the machine does not exist for it):

* read-only: ``/usr`` (and the ``/bin``, ``/lib`` links), the Python interpreter and the virtual
  environment at their own paths, the **released** helper package (a copy of ``course_utils`` without
  ``instructor/``, made per batch), the child runner ``sandbox.py``, the data cache and the course files,
  and its own notebook;
* writable: a private, size-capped tmpfs home (its working directory), ``/tmp`` and ``/dev/shm``, and
  its own output folder (one per submission, never shared);
* new PID, network (loopback only), IPC, UTS, mount and cgroup namespaces; a new session;
  ``--die-with-parent``; no capabilities; an unprivileged uid. Run as root, the grader gives each
  submission its own uid (``200000`` and up) and drops to it inside the sandbox; run as a user, bwrap
  makes a user namespace in which the submission is ``nobody``.

Limits per submission: a cgroup (memory and process count) where the grader may create one, else
``RLIMIT_AS`` per process and ``RLIMIT_NPROC`` for the submission's uid; ``RLIMIT_FSIZE``, ``RLIMIT_CPU``
and size-capped tmpfs always. When the runner exits, the PID namespace ends and takes every process of the
submission with it (orphans and ``setsid`` children included); at the time limit the grader kills it.
"""

from __future__ import annotations

import compileall
import functools
import itertools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "course_utils"
RUNNER = Path(__file__).resolve().with_name("sandbox.py")
BOX = "/opt/course-kit"
HOME = "/home/student"
UID_BASE = 200_000
_uids = itertools.count(os.getpid() % 1000 * 64)
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install "
                "bubblewrap`; `make env` does it when run as root), or grade without an OS sandbox at your "
                "own risk with --unsafe-no-sandbox")


class SandboxUnavailable(RuntimeError):
    """No OS sandbox on this machine, and the instructor did not allow grading without one."""


def next_uid() -> int:
    """A fresh unprivileged uid for one submission (root only): no two running submissions share one."""
    return UID_BASE + next(_uids) % 100_000


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str:
    """Empty if bubblewrap works here (a trivial sandbox starts and exits), else why not."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return "bubblewrap (bwrap) is not installed"
    command = [bwrap, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    if os.geteuid() == 0:
        command[-1:] = ["setpriv", f"--reuid={UID_BASE}", f"--regid={UID_BASE}", "--clear-groups", "true"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap does not start ({exc})"
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
                  env: dict[str, str], tmp_size: int) -> list[str]:
    """The bwrap command line running ``argv`` (the runner) in the sandbox of one submission."""
    command = [shutil.which("bwrap") or "bwrap", *_namespaces(), "--hostname", "grading", "--clearenv"]
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

    def remove(self) -> None:
        """Kill what is left in it and delete it."""
        for folder in self.folders:
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
                import time

                time.sleep(0.05)
            try:
                folder.rmdir()
            except OSError:
                pass


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
