"""Grade on a Dask cluster: a ``LocalCluster``, a Slurm allocation (dask-jobqueue) or a running scheduler.

Every Dask worker grades with the same function as the local pool (:func:`.worker.grade_task`),
each submission in its own OS sandbox; a worker without bubblewrap refuses (the batch stops with its
name). The instructor's process keeps the only copies of the reports: workers return grade records.

What must be on every worker: the kit (``pip install -e .[cluster]`` at the same path as the
instructor's, or any install of the same version), bubblewrap, and the data cache
(``COURSE_KIT_CACHE``, e.g. on the shared file system). A worker lost mid-batch costs a retry: the
scheduler re-runs its tasks elsewhere up to ``retries`` times (``distributed.scheduler.allowed-failures``,
set for the clusters started here; a running scheduler keeps its own setting), and a task that raises
is retried ``retries`` times too.

Requires ``dask``, ``distributed`` and (for Slurm) ``dask-jobqueue``: ``pip install -e .[cluster]``.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from dataclasses import dataclass
from typing import Any

from distributed import Client, WorkerPlugin, get_worker

from .batch import Backend
from .execute import sandbox_problem
from .isolation import SandboxUnavailable
from .records import GradingJob, Limits, Submission
from .worker import BatchFolders, grade_task

PLUGIN = "course-kit-grading"
INSTALL = "the Dask backends need dask, distributed and dask-jobqueue: pip install -e '.[cluster]'"


class GradingFolders(WorkerPlugin):
    """Each worker's scratch folder and read-only batch view, made once and deleted with the worker."""

    name = PLUGIN

    def __init__(self, sandboxed: bool) -> None:
        self.sandboxed = sandboxed
        self._folders: BatchFolders | None = None
        self._lock: threading.Lock | None = None

    def setup(self, worker: Any) -> None:
        self._lock = threading.Lock()

    def folders(self) -> BatchFolders:
        with self._lock:
            if self._folders is None:
                self._folders = BatchFolders(self.sandboxed)
            return self._folders

    def teardown(self, worker: Any) -> None:
        if self._folders is not None:
            self._folders.close()
            self._folders = None


def grade_on_worker(job: GradingJob, submission: Submission) -> dict[str, Any]:
    """:func:`.worker.grade_task` with the worker's folders (the task every Dask worker runs)."""
    plugin = get_worker().plugins.get(PLUGIN)
    return grade_task(job, submission, plugin.folders() if isinstance(plugin, GradingFolders) else None)


def sandbox_here(limits: Limits) -> str:
    """Empty if this machine can grade with ``limits`` (bubblewrap works), else why not."""
    return sandbox_problem(limits)


class DaskBackend(Backend):
    """Submissions as Dask tasks on ``client`` (retried ``retries`` times), the job sent once per worker."""

    def __init__(self, client: Client, limits: Limits, retries: int = 2, cluster: Any = None,
                 description: str = "") -> None:
        self.client, self.cluster, self.retries = client, cluster, retries
        self.description = description or f"Dask scheduler {client.scheduler.address}"
        self.executor = client.get_executor(retries=retries, pure=False)
        self._jobs: dict[str, Any] = {}
        client.register_plugin(GradingFolders(not limits.unsafe_no_sandbox), name=PLUGIN)
        refusals = {address: problem for address, problem in client.run(sandbox_here, limits).items() if problem}
        if refusals:
            raise SandboxUnavailable("; ".join(f"worker {a}: {p}" for a, p in sorted(refusals.items())))

    @property
    def slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, job: GradingJob, submission: Submission) -> cf.Future:
        if job.fingerprint not in self._jobs:
            self._jobs[job.fingerprint] = self.client.scatter(job, broadcast=True, hash=False)
        return self.executor.submit(grade_on_worker, self._jobs[job.fingerprint], submission)

    def running(self, futures: list[cf.Future]) -> int:
        try:
            return sum(len(keys) for keys in self.client.processing().values())
        except (OSError, TimeoutError):
            return 0

    def close(self) -> None:
        self._jobs.clear()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


@dataclass
class SlurmOptions:
    """One Slurm job per Dask worker: its cores (submissions at once), memory, walltime, queue, account."""

    cores: int = 4
    memory: str = "32GiB"
    walltime: str = "02:00:00"
    queue: str | None = None
    account: str | None = None
    extra: tuple[str, ...] = ()  # more ``#SBATCH`` lines, e.g. ("--gres=gpu:1",)
    python: str | None = None  # the interpreter on the nodes (default: this one, same path)


def slurm_cluster(options: SlurmOptions, limits: Limits | None = None) -> Any:
    """A dask-jobqueue ``SLURMCluster`` with one worker per job and ``options.cores`` threads each.

    Each thread grades one submission at a time in its own sandbox, so the job's memory should cover
    ``cores`` submissions at their limit; too small a job raises ``ValueError`` naming both figures.
    """
    from dask.utils import parse_bytes
    from dask_jobqueue import SLURMCluster

    limits = limits or Limits()
    if options.cores < 1:
        raise ValueError(f"--slurm-cores must be at least 1, got {options.cores}")
    need = options.cores * limits.memory
    if parse_bytes(options.memory) < need:
        raise ValueError(f"--slurm-memory {options.memory} is less than {options.cores} cores x --memory "
                         f"{limits.memory / 1024**3:g} GiB per submission; raise it or lower --memory")
    kwargs: dict[str, Any] = {"cores": options.cores, "processes": 1, "memory": options.memory,
                              "walltime": options.walltime, "queue": options.queue, "account": options.account,
                              "job_extra_directives": list(options.extra), "job_name": "course-kit-grade"}
    if options.python:
        kwargs["python"] = options.python
    return SLURMCluster(**kwargs)


def dask_backend(limits: Limits, scheduler: str | None = None, cluster: str | None = None, workers: int = 2,
                 threads: int = 1, retries: int = 2, slurm: SlurmOptions | None = None,
                 processes: bool = True, wait: float = 120.0) -> DaskBackend:
    """Connect to ``scheduler``, or start ``cluster`` (``"local"`` or ``"slurm"``) with ``workers`` workers.

    ``threads``: submissions each ``LocalCluster`` worker grades at once (Slurm: ``slurm.cores``).
    ``retries``: times a submission is re-run after its worker was lost or its task raised. Waits up to
    ``wait`` seconds for the first worker of a started cluster (a Slurm queue may take longer: then the
    batch starts anyway and runs when jobs start).
    """
    import dask

    if (scheduler is None) == (cluster is None):
        raise ValueError("give exactly one of --scheduler ADDRESS and --cluster {local,slurm}")
    if scheduler is not None:
        client = Client(scheduler)
        return DaskBackend(client, limits, retries, description=f"Dask scheduler {scheduler}")
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        if cluster == "local":
            from distributed import LocalCluster

            started = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=processes,
                                   dashboard_address=None)
            description = f"LocalCluster of {workers}x{threads}"
        elif cluster == "slurm":
            options = slurm or SlurmOptions()
            started = slurm_cluster(options, limits)
            started.scale(jobs=workers)
            description = f"Slurm, {workers} jobs x {options.cores} cores"
        else:
            raise ValueError(f"--cluster must be 'local' or 'slurm', not {cluster!r}")
    client = Client(started)
    try:
        try:
            client.wait_for_workers(1 if cluster == "slurm" else workers, timeout=wait)
        except TimeoutError:
            if cluster != "slurm":  # a Slurm queue may be slow: the tasks wait for the jobs
                raise
        return DaskBackend(client, limits, retries, cluster=started, description=description)
    except BaseException:
        client.close()
        started.close()
        raise
