"""Mutation testing of the kit's numerical modules and the grader's scoring (issue 27), with cosmic-ray.

``make mutation`` (``python -m course_utils mutation``) runs this script from the repository root. For each
module named (default: every configuration in ``tools/mutation/``) it

1. initialises a cosmic-ray session ``build/mutation/NAME.sqlite`` from ``tools/mutation/NAME.toml`` (the
   module, the fast unit tests that cover it and the per-mutant timeout), unless the session exists and
   ``--fresh`` is not given: then the remaining mutants of that session are run (an interrupted run resumes);
2. skips the mutation operators that the configuration excludes (``cr-filter-operators``: bitwise and shift
   operators, which the kit's maths does not use and whose ``|`` mostly sits in type annotations; and all but
   one or two replacements of each arithmetic and comparison operator), and, with ``--sample N``, all but N
   mutants drawn at random (seeded): a sampled score estimates the full one in a fraction of the time;
3. checks that the tests pass on the unmutated code (``cosmic-ray baseline``), then runs the tests once per
   mutant (``cosmic-ray exec``; cosmic-ray edits the module in place and puts it back after each mutant);
4. prints the score, killed / run, and each surviving mutant (function, line, operator, diff), and writes
   them to ``build/mutation/NAME.txt`` and ``build/mutation/summary.json``.

A timeout counts as killed (cosmic-ray's rule: an endless loop is noticed). ``--rerun-survivors`` runs the
survivors of an existing session again, e.g. after new tests. The module is restored from its content before
the run whatever happens (an interrupted ``cosmic-ray exec`` could otherwise leave a mutant in the tree).
Not part of ``make test``: it takes minutes per module, and hours for the TensorFlow modules in full.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

CONFIGS = Path("tools/mutation")
OUT = Path("build/mutation")


@dataclass
class Score:
    """One module's result: the counts and the surviving mutants (one line each)."""

    module: str
    killed: int = 0
    survived: int = 0
    incompetent: int = 0
    skipped: int = 0
    pending: int = 0
    seconds: float = 0.0
    survivors: list[str] = field(default_factory=list)

    @property
    def run(self) -> int:
        """Mutants whose tests ran to a verdict (killed or survived)."""
        return self.killed + self.survived

    def line(self) -> str:
        """The one-line score."""
        share = f"{100 * self.killed / self.run:.1f} %" if self.run else "n/a"
        extra = f", {self.incompetent} incompetent" if self.incompetent else ""
        extra += f", {self.pending} not run" if self.pending else ""
        return (f"{self.module}: {self.killed} / {self.run} killed ({share}), {self.survived} survived{extra}; "
                f"{self.skipped} skipped by the operator filter or the sample; {self.seconds:.0f} s")


def tool(name: str) -> str:
    """The path of a cosmic-ray command installed beside this Python (``.venv/bin/cosmic-ray``)."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise SystemExit(f"{name} not found beside {sys.executable}: install the dev extra "
                         "(pip install -r requirements.txt, or pip install -e '.[dev]').")
    return str(path)


def sh(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    """Run ``command``, echoing it; raise SystemExit when it fails."""
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(command, **kwargs)  # noqa: PLW1510 - the status is checked below
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")
    return done


def sample(session: Path, keep: int, seed: int) -> int:
    """Mark all but ``keep`` of the session's pending mutants as skipped; return how many were skipped."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = sorted(item.job_id for item in db.pending_work_items)
        if len(pending) <= keep:
            return 0
        drop = sorted(set(pending) - set(random.Random(seed).sample(pending, keep)))
        db.set_multiple_results(drop, WorkResult(output="not in the sample", worker_outcome=WorkerOutcome.SKIPPED))
        return len(drop)


def keep_definitions(session: Path, include: list[str]) -> int:
    """Mark as skipped the pending mutants outside the functions named in ``include``; return how many."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        drop = [item.job_id for item in db.pending_work_items
                if not any(spec.definition_name in include for spec in item.mutations)]
        db.set_multiple_results(drop, WorkResult(output="outside the functions tested",
                                                 worker_outcome=WorkerOutcome.SKIPPED))
        return len(drop)


def forget_survivors(session: Path) -> int:
    """Delete the results of the session's surviving mutants, so that ``exec`` runs them again; the mutants that
    the first run did not reach (its budget) are skipped, so that the rerun judges the same sample again."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        unreached = [item.job_id for item in db.pending_work_items]
        db.set_multiple_results(unreached, WorkResult(output="not reached by the first run",
                                                      worker_outcome=WorkerOutcome.SKIPPED))
    import sqlite3

    with sqlite3.connect(session) as db:
        return db.execute("DELETE FROM work_results WHERE lower(test_outcome) = 'survived'").rowcount


def score(name: str, session: Path, seconds: float) -> Score:
    """Read the session's verdicts into a Score, with one line per survivor."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    result = Score(name, seconds=seconds)
    with use_db(str(session), WorkDB.Mode.open) as db:
        outcomes = {job_id: res for job_id, res in db.results}
        for item in db.work_items:
            res = outcomes.get(item.job_id)
            if res is None:
                result.pending += 1
            elif res.worker_outcome == WorkerOutcome.SKIPPED:
                result.skipped += 1
            elif res.test_outcome == TestOutcome.KILLED:
                result.killed += 1
            elif res.test_outcome == TestOutcome.SURVIVED:
                result.survived += 1
                spec = item.mutations[0]
                diff = [d for d in (res.diff or "").splitlines() if d[:1] in "+-" and d[:3] not in ("+++", "---")]
                result.survivors.append(f"{spec.module_path}:{spec.start_pos[0]} {spec.definition_name or '-'} "
                                        f"{spec.operator_name.removeprefix('core/')}  {' | '.join(diff)}")
            else:
                result.incompetent += 1
    result.survivors.sort(key=lambda s: (s.split()[0].rsplit(":", 1)[0], int(s.split()[0].rsplit(":", 1)[1])))
    return result


def execute(config: Path, session: Path, budget: float) -> None:
    """``cosmic-ray exec``, stopped after ``budget`` seconds (0: none); a sampled session then holds a smaller
    random sample (cosmic-ray runs the pending mutants in random order) and resumes next time."""
    command = [tool("cosmic-ray"), "exec", str(config), str(session)]
    print("+ " + " ".join(command), flush=True)
    process = subprocess.Popen(command, start_new_session=True)
    try:
        status = process.wait(timeout=budget or None)
    except subprocess.TimeoutExpired:
        import psutil  # cosmic-ray runs each test command in a session of its own: end the whole tree

        tree = psutil.Process(process.pid).children(recursive=True)
        os.killpg(process.pid, signal.SIGTERM)
        for child in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.terminate()
        process.wait()
        print(f"stopped after the budget of {budget:.0f} s; the remaining mutants are counted as not run")
        return
    if status:
        raise SystemExit(f"failed ({status}): {' '.join(command)}")


def run_module(name: str, args: argparse.Namespace) -> Score:
    """Run (or resume) the mutation session of one module and return its score."""
    config = CONFIGS / f"{name}.toml"
    if not config.exists():
        raise SystemExit(f"no configuration {config}: choose from {', '.join(available())}")
    settings = tomllib.loads(config.read_text())["cosmic-ray"]
    module = Path(settings["module-path"])
    include = settings.get("filters", {}).get("definitions", {}).get("include")
    session = OUT / f"{name}.sqlite"
    OUT.mkdir(parents=True, exist_ok=True)
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", str(module)]).returncode
    if dirty and not args.allow_dirty:
        raise SystemExit(f"{module} differs from the last commit (a mutant left by an interrupted run?): "
                         f"check `git diff {module}`, or pass --allow-dirty to mutate it as it is.")
    original = module.read_bytes()
    start = time.monotonic()
    try:
        if args.fresh or not session.exists():
            session.unlink(missing_ok=True)
            sh([tool("cosmic-ray"), "init", str(config), str(session)], stdout=subprocess.DEVNULL)
            sh([tool("cr-filter-operators"), str(session), str(config)])
            if include:
                print(f"{name}: {keep_definitions(session, include)} mutants outside {', '.join(include)} skipped")
            if args.sample:
                print(f"{name}: {sample(session, args.sample, args.seed)} mutants left out of the sample")
        elif args.rerun_survivors:
            print(f"{name}: {forget_survivors(session)} survivors to run again")
        if not args.no_baseline:
            sh([tool("cosmic-ray"), "baseline", str(config)])
        execute(config, session, args.budget)
    finally:
        if module.read_bytes() != original:
            module.write_bytes(original)
            print(f"{module} restored (a mutant was left in place)")
    result = score(name, session, time.monotonic() - start)
    report = "\n".join([result.line(), *("  survived " + s for s in result.survivors)])
    (OUT / f"{name}.txt").write_text(report + "\n")
    print(report, flush=True)
    return result


def available() -> list[str]:
    """The modules with a configuration in tools/mutation/."""
    return sorted(path.stem for path in CONFIGS.glob("*.toml"))


def main(argv: list[str] | None = None) -> int:
    """Command line: run the named modules (default all); exit 1 when the overall score is below --goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(available())}")
    parser.add_argument("--fresh", action="store_true", help="start a new session even if one exists")
    parser.add_argument("--rerun-survivors", action="store_true", help="run the survivors of the session again")
    parser.add_argument("--sample", type=int, default=0, metavar="N", help="run only N mutants drawn at random")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--budget", type=float, default=0, metavar="SECONDS",
                        help="stop each module's run after this many seconds (default: none)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run on the unmutated code")
    parser.add_argument("--allow-dirty", action="store_true", help="mutate a module with uncommitted changes")
    parser.add_argument("--goal", type=float, default=90.0, help="share of killed mutants to reach (default 90)")
    args = parser.parse_args(argv)
    if not (Path("pyproject.toml").exists() and CONFIGS.is_dir()):
        raise SystemExit("Run this from the course-kit repository root.")
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")  # no stale .pyc of a mutant between two runs
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # The configurations' test commands say `python`: this one, the environment's (as under make).
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")]))
    scores = []
    for name in args.modules or available():
        try:
            scores.append(run_module(name, args))
        except SystemExit as stop:  # e.g. a baseline that fails or times out: report it, go on with the next
            print(f"{name}: not measured: {stop}", flush=True)
    killed, run = sum(s.killed for s in scores), sum(s.run for s in scores)
    print("\n".join(s.line() for s in scores))
    share = 100 * killed / run if run else 0.0
    print(f"overall: {killed} / {run} killed ({share:.1f} %)")
    path = OUT / "summary.json"  # the latest result of every module run so far
    modules = json.loads(path.read_text())["modules"] if path.exists() else {}
    modules.update({s.module: {**asdict(s), "run": s.run, "date": time.strftime("%Y-%m-%d %H:%M")} for s in scores})
    path.write_text(json.dumps({"modules": modules}, indent=1) + "\n")
    return 0 if share >= args.goal else 1


if __name__ == "__main__":
    sys.exit(main())
