"""Does the student release hand out an answer? Call every public function of the released package on every
function check's inputs and compare with the reference answers.

For every ``grading/NN_topic.py`` and every :class:`~.checks.FunctionCheck` in it (except those with a
``probe``: their student object is a Keras builder, class or callback driven by an instructor-only probe,
which cannot run in the release; their own tests call the probes on every public object), the substantive cases
(those its ``edge`` predicate does not mark) are drawn with a fixed seed and answered by the reference
(``course_utils.instructor.reference``). Then, for every module of the *released* ``course_utils`` (the
copy in the release folder, imported in a child process whose ``PYTHONPATH`` is that folder), every public
function and class defined in that module (name without a leading underscore, ``__module__`` equal to the
module) is called with every case's arguments whose signature binds. Each call runs under an alarm
(``call_timeout``), each module in its own process under a hard limit (a hung call is skipped and the
module re-run without it), with no network where the system allows a network namespace, a scratch HOME,
working directory and data cache.

A call *leaks* when its return value, or any array in it (tuple items, dataclass fields, public
attributes of a returned object, one level deep), equals the reference's whole answer or one of its
substantive parts (not constant, not one of the inputs) within the check's tolerances (``numpy.allclose``,
up to the sign of columns for 2-D arrays). The grading modules are generic: every exercise any helper adds
to ``grading/`` is covered without change here.

    python -m course_utils.instructor leaks --out release   (also part of ``check-release``)
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .checks import FunctionCheck, as_arrays, compare, load_checks

PROBE = r'''
import dataclasses, importlib, inspect, itertools, json, os, pickle, signal, sys, warnings
import numpy as np

module_name, cases_path, out_dir, release, call_timeout = sys.argv[1:6]
skip = set(json.loads(sys.argv[6]))
call_timeout = float(call_timeout)
warnings.filterwarnings("ignore")


class CallTimeout(BaseException):
    pass


def on_alarm(signum, frame):
    raise CallTimeout()


def flatten(value, depth=0, plain=False):
    """Numeric arrays in a return value: items, dataclass fields, public attributes (two levels); ``plain``: items
    only (the value itself, its tuple or list items, a dict's values), no attributes of other objects."""
    if depth > 2:
        return []
    if isinstance(value, np.ndarray):
        return [value] if value.dtype.kind in "biuf" and value.size <= 10**7 else []
    if isinstance(value, (bool, int, float, np.number)):
        return [np.asarray(value, dtype=float)]
    if hasattr(value, "numpy") and callable(value.numpy) and hasattr(value, "shape"):
        try:
            return flatten(np.asarray(value.numpy()), depth)
        except Exception:
            return []
    if isinstance(value, (tuple, list)):
        return [a for item in list(value)[:32] for a in flatten(item, depth + 1, plain)]
    if isinstance(value, dict):
        return [a for item in list(value.values())[:32] for a in flatten(item, depth + 1, plain)]
    if plain:
        return []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [getattr(value, f.name, None) for f in dataclasses.fields(value)]
        return [a for item in items for a in flatten(item, depth + 1)]
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict) and not isinstance(value, type):
        items = [v for k, v in list(attributes.items())[:64] if not k.startswith("_")]
        return [a for item in items for a in flatten(item, depth + 1)]
    return []


module = importlib.import_module(module_name)
here = os.path.realpath(module.__file__)
if not here.startswith(os.path.realpath(release) + os.sep):
    sys.exit(f"imported {module_name} from {here}, not from the release {release}")
with open(cases_path, "rb") as handle:
    cases, names = pickle.load(handle)


def mappings(signature, args, key):
    """The argument mappings a student would write: the exercise's order, every other order of its array
    arguments (up to 3 of them; numbers and strings stay in place), and keywords named as the exercise names
    them (where the callee has them)."""
    found = [("", tuple(args), {})]
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    if 2 <= len(arrays) <= 3:
        for order in itertools.permutations(arrays):
            if list(order) != arrays:
                moved = list(args)
                for place, source in zip(arrays, order):
                    moved[place] = args[source]
                found.append(("order " + "".join(map(str, order)), tuple(moved), {}))
    named = names.get(key) or []
    if signature is not None and len(named) == len(args):
        accepted = signature.parameters
        keywords = {n: a for n, a in zip(named, args) if n in accepted}
        rest = tuple(a for n, a in zip(named, args) if n not in accepted)
        if keywords:
            found.append(("keywords " + ",".join(sorted(keywords)), rest, keywords))
    bound = []
    for label, positional, keywords in found:
        if signature is not None:
            try:
                signature.bind(*positional, **keywords)
            except TypeError:
                continue
        bound.append((label, positional, keywords))
    return bound

signal.signal(signal.SIGALRM, on_alarm)
members = [(name, obj) for name, obj in sorted(vars(module).items())
           if not name.startswith("_") and callable(obj) and getattr(obj, "__module__", None) == module_name
           and name not in skip]
log = open(os.path.join(out_dir, "log.jsonl"), "a")
number = 0
for name, obj in members:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        signature = None
    log.write(json.dumps({"start": name}) + "\n")
    log.flush()
    for key, arg_list in cases.items():
        for case_number, case_args in enumerate(arg_list):
            for mapping, args, keywords in mappings(signature, case_args, key):
                args, keywords = pickle.loads(pickle.dumps((args, keywords)))  # fresh copies: the callee may modify
                signal.setitimer(signal.ITIMER_REAL, call_timeout)
                try:
                    # Arguments in another order or by keyword: only what the call returns counts (a student would use
                    # that), not numbers among the attributes of a returned object (a figure's layout matches any
                    # fraction by chance).
                    arrays = flatten(obj(*args, **keywords), plain=bool(mapping))
                    error = ""
                except BaseException as exc:
                    arrays, error = [], type(exc).__name__
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if "matplotlib.pyplot" in sys.modules:
                    sys.modules["matplotlib.pyplot"].close("all")
                record = {"function": name, "key": key, "case": case_number, "error": error, "n": len(arrays),
                          "mapping": mapping}
                if arrays:
                    record["file"] = f"call{number}.npz"
                    np.savez(os.path.join(out_dir, record["file"]), *[np.asarray(a, dtype=float) for a in arrays])
                    number += 1
                log.write(json.dumps(record) + "\n")
                log.flush()
    log.write(json.dumps({"done": name}) + "\n")
    log.flush()
'''


@dataclass
class Leak:
    """A released function that reproduced (part of) a reference answer."""

    function: str
    check: str
    case: int
    what: str
    mapping: str = ""  # how the arguments were passed, when not in the exercise's order

    def __str__(self) -> str:
        how = f", arguments by {self.mapping}" if self.mapping else ""
        return f"{self.function} reproduces {self.what} of {self.check} (case {self.case + 1}{how})"


@dataclass
class LeakReport:
    """What the leak check did: leaks found, calls made, functions that hung or modules that failed."""

    leaks: list[Leak] = field(default_factory=list)
    calls: int = 0
    mapped_calls: int = 0  # calls with the arguments in another order or by keyword
    functions: int = 0
    checks: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "module.function: why"
    failed_modules: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)  # answers of functions the grader withholds for that exercise

    @property
    def ok(self) -> bool:
        return not self.leaks and not self.failed_modules


def released_modules(release_dir: Path) -> list[str]:
    """Dotted names of the modules of the released ``course_utils`` (``__main__`` modules excluded)."""
    package = Path(release_dir) / "course_utils"
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(release_dir).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def exercise_cases(grading_dir: Path, seed: int = 0) -> dict[str, tuple[FunctionCheck, list[tuple], list[Any]]]:
    """``"EXERCISE:check id" -> (check, substantive cases, reference answers)`` for every grading module."""
    found = {}
    for path in sorted(Path(grading_dir).glob("[0-9][0-9]_*.py")):
        suite = load_checks(path)
        for index, check in enumerate(suite.function_checks):
            if check.probe is not None:  # Keras code: called through an instructor probe; see tests/test_vae.py
                continue
            cases = [c for c in check.make_cases(seed + index) if not check.is_edge(c)]
            found[f"{suite.exercise}:{check.id}"] = (check, cases, [check.call_reference(case) for case in cases])
    return found


def withheld_functions(grading_dir: Path) -> dict[str, set[str]]:
    """``EXERCISE -> {"course_utils.module.function", ...}``: what each grading module withholds (both lists).

    The sandbox of a submission cannot call them, so an answer they reproduce is no leak (it is reported apart).
    """
    from .withhold import split_entry, withheld_of

    found = {}
    for path in sorted(Path(grading_dir).glob("[0-9][0-9]_*.py")):
        suite = load_checks(path)
        found[suite.exercise] = {".".join(split_entry(entry)) for entries in withheld_of(suite.module)
                                 for entry in entries}
    return found


def _parameter_names(function: Any) -> list[str]:
    """Names of ``function``'s positional parameters (the exercise's own names; empty when unknown)."""
    import inspect

    try:
        return [p.name for p in inspect.signature(function).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def _same(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    a, b = np.squeeze(a), np.squeeze(b)
    if a.shape != b.shape or not np.all(np.isfinite(b)):
        return False
    if np.allclose(b, a, rtol=rtol, atol=atol):
        return True
    return a.ndim == 2 and np.allclose(np.abs(b), np.abs(a), rtol=rtol, atol=atol)  # eigenvectors up to sign


def _substantive(part: np.ndarray, inputs: list[np.ndarray]) -> bool:
    """A part of an answer worth protecting: not constant (or a scalar other than 0 and 1), not an input."""
    part = np.squeeze(np.asarray(part, dtype=float))
    if not np.all(np.isfinite(part)):
        return False
    if part.size == 1:
        trivial = float(part) in (0.0, 1.0, -1.0)
    else:
        trivial = float(np.ptp(part)) == 0.0
    return not trivial and not any(_same(x, part, 1e-12, 0.0) for x in inputs)


def judge(check: FunctionCheck, case: tuple, reference: Any, got: list[np.ndarray]) -> str:
    """Empty if ``got`` (a released function's arrays) does not reproduce ``reference``, else what it reproduces."""
    want = check.arrays(as_arrays(reference))
    try:
        whole = compare(want, check.arrays(list(got)), check.rtol, check.atol) == ""
    except Exception:  # noqa: BLE001 (normalize may not fit an unrelated return value)
        whole = False
    if whole and any(_substantive(w, []) for w in want):
        return "the whole answer"
    inputs = []
    for arg in case:
        try:
            inputs.extend(as_arrays(arg))
        except (TypeError, ValueError):
            pass
    for index, part in enumerate(want):
        if check.leak_parts is not None and index not in check.leak_parts:
            continue
        if _substantive(part, inputs) and any(_same(part, g, check.rtol, check.atol) for g in got):
            return f"value {index + 1} of the answer"
    return ""


def _probe_module(module: str, release_dir: Path, cases_path: Path, work: Path, call_timeout: float,
                  module_timeout: float, env: dict[str, str], command_prefix: list[str]
                  ) -> tuple[list[dict], list[str], str]:
    """Run the probe on one module until it finishes; return (records, skipped functions, failure)."""
    out = work / module
    out.mkdir()
    skip: list[str] = []
    notes: list[str] = []
    script = work / "probe.py"
    previous = ""
    for _attempt in range(40):
        command = [*command_prefix, sys.executable, str(script), module, str(cases_path), str(out), str(release_dir),
                   str(call_timeout), json.dumps(skip)]
        try:
            done = subprocess.run(command, cwd=work / "scratch", env=env, capture_output=True, text=True,
                                  timeout=module_timeout)
            failure = "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["no output"])[-1]
        except subprocess.TimeoutExpired:
            done, failure = None, "timeout"
        log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()] if (
            out / "log.jsonl").exists() else []
        started = [r["start"] for r in log if "start" in r]
        finished = {r["done"] for r in log if "done" in r}
        hung = [name for name in started if name not in finished and name not in skip]
        if failure == "timeout" or (failure and hung):
            if not hung:
                return log, notes, f"{module}: probe stopped at the time limit before calling anything"
            # The next attempt skips the functions already done (their records stay in the log). The function in
            # progress is tried once more on its own; if it stops the probe again, it is skipped and reported.
            if hung[-1] == previous:
                skip = sorted(set(skip) | {hung[-1]})
                notes.append(f"{module}.{hung[-1]}: still running when the probe was stopped at "
                             f"{module_timeout:.0f} s, twice (or it crashed the process); not checked")
            skip = sorted(set(skip) | finished)
            previous = hung[-1]
            continue
        return log, notes, (f"{module}: {failure}" if failure else "")
    return [], notes, f"{module}: too many hung functions"


def find_leaks(release_dir: Path, grading_dir: Path, seed: int = 0, call_timeout: float = 5.0,
               module_timeout: float = 240.0, workers: int = 2) -> LeakReport:
    """Call every public function of the release's ``course_utils`` on every check's inputs; report leaks."""
    release_dir = Path(release_dir).resolve()
    if not (release_dir / "course_utils").is_dir():
        raise FileNotFoundError(f"No released package {release_dir / 'course_utils'}; run the release command first.")
    cases = exercise_cases(grading_dir, seed)
    report = LeakReport(checks=sorted(cases))
    withheld = withheld_functions(grading_dir)
    from .grade import network_namespace_available

    with tempfile.TemporaryDirectory(prefix="course-kit-leaks-") as tmp:
        work = Path(tmp)
        (work / "scratch").mkdir()
        (work / "probe.py").write_text(PROBE, encoding="utf-8")
        cases_path = work / "cases.pkl"
        names = {key: _parameter_names(check.reference) for key, (check, _, _) in cases.items()}
        cases_path.write_bytes(pickle.dumps(({key: args for key, (_, args, _) in cases.items()}, names)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update({"PYTHONPATH": str(release_dir), "HOME": str(work / "scratch"), "MPLBACKEND": "Agg",
                    "COURSE_KIT_CACHE": str(work / "scratch" / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3",
                    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"})
        prefix = ["unshare", "-rn"] if network_namespace_available() else []
        modules = released_modules(release_dir)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            runs = list(pool.map(lambda m: _probe_module(m, release_dir, cases_path, work, call_timeout,
                                                         module_timeout, env, prefix), modules))
        for module, (log, notes, failure) in zip(modules, runs, strict=True):
            report.skipped.extend(notes)
            if failure:
                report.failed_modules.append(failure)
            report.functions += len({r["done"] for r in log if "done" in r})
            seen, leaked = set(), set()
            for record in log:
                if "function" not in record:
                    continue
                key = (record["function"], record["key"], record["case"], record.get("mapping", ""))
                if key in seen:  # called again after a restart of the probe
                    continue
                seen.add(key)
                if record.get("mapping"):
                    report.mapped_calls += 1
                else:
                    report.calls += 1
                if not record.get("file"):
                    continue
                check, args, answers = cases[record["key"]]
                with np.load(work / module / record["file"]) as data:
                    got = [data[name] for name in data.files]
                what = judge(check, args[record["case"]], answers[record["case"]], got)
                name = f"{module}.{record['function']}"
                if what and name in withheld.get(record["key"].split(":")[0], set()):
                    report.withheld.append(f"{name} ({record['key']}): withheld while grading it")
                    what = ""
                if what and key[:3] not in leaked:  # one leak per function and case, however the arguments went
                    leaked.add(key[:3])
                    report.leaks.append(Leak(f"{module}.{record['function']}", record["key"], record["case"], what,
                                             record.get("mapping", "")))
    return report


def print_report(report: LeakReport) -> None:
    """Console summary of a leak check."""
    print(f"leak check: {report.functions} released functions/classes, {len(report.checks)} function checks, "
          f"{report.calls} calls that bound, {report.mapped_calls} more with the arguments reordered or by keyword")
    for note in report.skipped:
        print(f"  skipped {note}")
    for note in sorted(set(report.withheld)):
        print(f"  withheld {note}")
    for failure in report.failed_modules:
        print(f"FAIL module could not be probed: {failure}")
    for leak in report.leaks:
        print(f"FAIL {leak}")
    if report.ok:
        print("ok   no released function reproduces a reference answer")


DELEGATE = r'''
import importlib, json, os, pickle, signal, sys, warnings
import numpy as np

spec_path, out_dir, call_timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
warnings.filterwarnings("ignore")
with open(spec_path, "rb") as handle:
    spec = pickle.load(handle)


class CallTimeout(BaseException):
    pass


def on_alarm(signum, frame):
    raise CallTimeout()


signal.signal(signal.SIGALRM, on_alarm)
namespace = {"__name__": "__main__"}
exec(spec["imports"], namespace)  # the notebook's imports cell: phase 1 of a submission
for source in spec["definitions"]:
    exec(source, namespace)
sys.course_kit_phase = 2  # as the grader's runner does before it calls the student's functions
log = open(os.path.join(out_dir, "log.jsonl"), "a")
for check_id, function, probe, cases in spec["checks"]:
    if probe is not None:
        module, _, name = probe.partition(":")
        probe = getattr(importlib.import_module(module), name)
    for number, case in enumerate(cases):
        record = {"check": check_id, "case": number, "error": ""}
        signal.setitimer(signal.ITIMER_REAL, call_timeout)
        try:
            target = namespace[function]
            value = target(*case) if probe is None else probe(target, *case)
            arrays = [np.asarray(v) for v in (list(value) if isinstance(value, (tuple, list)) else [value])]
            record["file"] = f"{check_id}-{number}.npz"
            np.savez(os.path.join(out_dir, record["file"]), *arrays)
        except BaseException as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        log.write(json.dumps(record) + "\n")
        log.flush()
'''


def find_delegations(release_dir: Path, grading_dir: Path, notebooks_dir: Path, withheld: bool = True,
                     seed: int = 0, call_timeout: float = 120.0, timeout: float = 900.0,
                     max_cases: int | None = None, stems: tuple[str, ...] | None = None) -> LeakReport:
    """Grade the kit-call submissions (:data:`.kitcalls.KIT_CALLS`) on the checks' substantive cases, probe-graded
    checks included, the way the grader would: the notebook's imports cell and the kit-call definitions run, then
    each function is called (through its probe, judged in this process) on the hidden cases.

    ``withheld``: against the release with each exercise's ``WITHHELD``/``WITHHELD_IN_CALLS`` applied, as the
    sandbox sees it (must find nothing), else against the full release (finds the delegations). A case answered
    like the reference is a :class:`Leak` named ``"kit call NN_topic #variant: function"``. ``max_cases``: at
    most that many substantive cases per check (a delegation answers every case; the tests use one). ``stems``:
    only these notebooks of the catalogue (default: all).
    """
    import json as _json
    import shutil

    from .grade import network_namespace_available
    from .kitcalls import KIT_CALLS, imports_cell
    from .release import cell_source
    from .sandbox import probe_name
    from .withhold import apply, withheld_of

    release_dir = Path(release_dir).resolve()
    report = LeakReport()
    with tempfile.TemporaryDirectory(prefix="course-kit-delegations-") as tmp:
        work = Path(tmp)
        (work / "scratch").mkdir()
        (work / "delegate.py").write_text(DELEGATE, encoding="utf-8")
        prefix = ["unshare", "-rn"] if network_namespace_available() else []
        for stem, variants in sorted(KIT_CALLS.items()):
            path = Path(grading_dir) / f"{stem}.py"
            if not path.is_file() or (stems is not None and stem not in stems):
                continue
            suite = load_checks(path)
            view = release_dir
            if withheld:
                view = work / f"view-{stem}"
                shutil.copytree(release_dir / "course_utils", view / "course_utils",
                                ignore=shutil.ignore_patterns("__pycache__"))
                apply(view, *withheld_of(suite.module), exercise=stem)
            notebook = _json.loads((Path(notebooks_dir) / f"{stem}.ipynb").read_text(encoding="utf-8"))
            imports = cell_source(notebook["cells"][imports_cell(notebook)])
            indexed = list(enumerate(suite.function_checks))
            for number, variant in enumerate(variants):
                checks = {}
                for index, check in indexed:
                    if check.function in variant:
                        cases = [c for c in check.make_cases(seed + index) if not check.is_edge(c)]
                        checks[check.id] = (check, cases[:max_cases])
                report.checks.extend(f"{stem}:{key} (kit call #{number})" for key in checks)
                spec = {"imports": imports, "definitions": list(variant.values()),
                        "checks": [(key, check.function, probe_name(check.probe), cases)
                                   for key, (check, cases) in checks.items()]}
                out = work / f"{stem}-{number}"
                out.mkdir()
                (out / "spec.pkl").write_bytes(pickle.dumps(spec))
                env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
                env.update({"PYTHONPATH": str(view), "HOME": str(work / "scratch"), "MPLBACKEND": "Agg",
                            "COURSE_KIT_CACHE": str(work / "scratch" / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3",
                            "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"})
                command = [*prefix, sys.executable, str(work / "delegate.py"), str(out / "spec.pkl"), str(out),
                           str(call_timeout)]
                try:
                    done = subprocess.run(command, cwd=work / "scratch", env=env, capture_output=True, text=True,
                                          timeout=timeout)
                    if done.returncode:
                        report.failed_modules.append(f"kit call {stem} #{number}: "
                                                     + (done.stderr.strip().splitlines() or ["no output"])[-1])
                except subprocess.TimeoutExpired:
                    report.failed_modules.append(f"kit call {stem} #{number}: timeout")
                log = out / "log.jsonl"
                for line in log.read_text().splitlines() if log.exists() else []:
                    record = _json.loads(line)
                    report.calls += 1
                    if not record.get("file"):
                        continue
                    check, cases = checks[record["check"]]
                    case = cases[record["case"]]
                    with np.load(out / record["file"]) as data:
                        got = [data[name] for name in data.files]
                    try:
                        want = check.arrays(check.judged(as_arrays(check.call_reference(case)), case))
                        same = compare(want, check.arrays(check.judged(got, case)), check.rtol, check.atol) == ""
                    except Exception:  # noqa: BLE001 (a value the judge cannot read is no answer)
                        same = False
                    if same:
                        report.leaks.append(Leak(f"kit call {stem} #{number}: {check.function}", f"{stem}:{check.id}",
                                                 record["case"], "the whole answer"))
    return report
