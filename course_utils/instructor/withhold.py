"""Kit functions withheld while grading: no exercise is answerable through the released package.

A grading module (``grading/NN_topic.py``) lists, right before ``CHECKS``,

* ``WITHHELD``: every released function or method that computes what one of the notebook's exercises asks
  for, as ``"module:qualname"`` (``"course_utils.vae:reparameterize"``, ``"course_utils.vae:VAE.train_step"``);
* optionally ``WITHHELD_IN_CALLS``: the same for functions that the notebook's *own* (non-exercise) cells
  still need. They work while the notebook runs (phase 1) and raise while the student's functions are
  called on the hidden inputs (phase 2), where every check of a function is scored.

When a submission of that notebook is graded, its sandbox sees a copy of the released package in which
each withheld function's body is replaced, in the source (an AST transform; the ``.pyc`` is compiled from
the new source), by ``raise RuntimeError("... is withheld while grading NN_topic: ...")``. Nothing of the
body is left to read, and ``importlib.reload`` reads the same transformed file. A function of
``WITHHELD_IN_CALLS`` keeps its body behind a guard that raises once the sandbox's runner has set
``sys.course_kit_phase = 2`` (:data:`PHASE_FLAG`) before phase 2; a reload keeps the guard.
"""

from __future__ import annotations

import ast
import compileall
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

PHASE_FLAG = "course_kit_phase"
"""Attribute of ``sys`` that the sandbox's runner sets to 2 before it calls the student's functions."""


class WithheldError(ValueError):
    """A ``WITHHELD`` entry that names no function of the released package."""


def split_entry(entry: str) -> tuple[str, str]:
    """``"course_utils.vae:VAE.train_step"`` -> ``("course_utils.vae", "VAE.train_step")``."""
    module, sep, qualname = str(entry).partition(":")
    if not sep or not module.startswith("course_utils") or not qualname or not all(
            part.isidentifier() for part in [*module.split("."), *qualname.split(".")]):
        raise WithheldError(f"{entry!r} is not 'course_utils.module:function' or 'course_utils.module:Class.method'")
    if module.split(".")[:2] == ["course_utils", "instructor"]:
        raise WithheldError(f"{entry!r}: the instructor package is never released; nothing to withhold there")
    return module, qualname


def withheld_of(module: ModuleType | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(WITHHELD, WITHHELD_IN_CALLS)`` of a loaded grading module (empty tuples where it has none)."""
    lists = []
    for name in ("WITHHELD", "WITHHELD_IN_CALLS"):
        entries = tuple(getattr(module, name, ()) or ())
        for entry in entries:
            split_entry(entry)
        lists.append(entries)
    return lists[0], lists[1]


def message(entry: str, exercise: str, in_calls: bool = False) -> str:
    """The text of the ``RuntimeError`` a withheld function raises."""
    module, qualname = split_entry(entry)
    when = " (in the calls of your functions on the hidden inputs)" if in_calls else ""
    return (f"{module}.{qualname} is withheld while grading {exercise}{when}: it is what the exercise asks you to "
            "write (write it yourself, with NumPy, TensorFlow or Keras)")


def _raise(text: str) -> ast.stmt:
    return ast.Raise(exc=ast.Call(func=ast.Name("RuntimeError", ast.Load()), args=[ast.Constant(text)], keywords=[]),
                     cause=None)


def _guard(text: str) -> list[ast.stmt]:
    """``if getattr(__import__("sys"), PHASE_FLAG, 0) == 2: raise RuntimeError(text)``."""
    flag = ast.Call(func=ast.Name("getattr", ast.Load()),
                    args=[ast.Call(func=ast.Name("__import__", ast.Load()), args=[ast.Constant("sys")], keywords=[]),
                          ast.Constant(PHASE_FLAG), ast.Constant(0)], keywords=[])
    test = ast.Compare(left=flag, ops=[ast.Eq()], comparators=[ast.Constant(2)])
    return [ast.If(test=test, body=[_raise(text)], orelse=[])]


def _find(tree: ast.Module, qualname: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    body: list[ast.stmt] = tree.body
    parts = qualname.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        kinds = (ast.FunctionDef, ast.AsyncFunctionDef) if last else (ast.ClassDef,)
        found = [node for node in body if isinstance(node, kinds) and node.name == part]
        if not found:
            return None
        node = found[-1]  # the definition that counts is the last one
        if last:
            return node
        body = node.body
    return None


def transform_source(source: str, module: str, withheld: Iterable[str], in_calls: Iterable[str],
                     exercise: str) -> str:
    """``source`` of ``module`` with the bodies of ``withheld`` qualnames replaced by a ``raise`` and those of
    ``in_calls`` guarded (see the module's docstring). Raises :class:`WithheldError` for a name not defined."""
    tree = ast.parse(source)
    for qualnames, guarded in ((withheld, False), (in_calls, True)):
        for qualname in qualnames:
            node = _find(tree, qualname)
            if node is None:
                raise WithheldError(f"{module}:{qualname} is listed as withheld for {exercise}, but {module} "
                                    f"defines no function or method {qualname}")
            text = message(f"{module}:{qualname}", exercise, in_calls=guarded)
            node.body = _guard(text) + node.body if guarded else [_raise(text)]
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def module_file(package_root: Path, module: str) -> Path:
    """The source file of dotted ``module`` under ``package_root`` (the folder holding ``course_utils``)."""
    base = Path(package_root, *module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    raise WithheldError(f"{module} is not a module of the released package under {package_root}")


def apply(package_root: Path, withheld: Sequence[str], in_calls: Sequence[str] = (), exercise: str = "") -> list[Path]:
    """Withhold ``withheld`` and ``in_calls`` (entries ``"module:qualname"``) in the copy of the package under
    ``package_root`` (changed in place, recompiled); return the files changed."""
    by_module: dict[str, tuple[list[str], list[str]]] = {}
    for entries, index in ((withheld, 0), (in_calls, 1)):
        for entry in entries:
            module, qualname = split_entry(entry)
            by_module.setdefault(module, ([], []))[index].append(qualname)
    changed = []
    for module, (plain, guarded) in sorted(by_module.items()):
        path = module_file(package_root, module)
        path.write_text(transform_source(path.read_text(encoding="utf-8"), module, plain, guarded, exercise),
                        encoding="utf-8")
        shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)  # no stale byte code of the old body
        changed.append(path)
    for folder in {path.parent for path in changed}:
        compileall.compile_dir(folder, quiet=1, maxlevels=0, force=True)
    return changed
