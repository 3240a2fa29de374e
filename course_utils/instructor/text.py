"""Untrusted input made safe once, where it enters: text from a submission, its file names, its JSON.

Every text that comes from a submission (a cell's error, a written answer, a value it recorded, a file
name) goes through :func:`safe_text` once, where the grader reads it: afterwards it is a ``str`` of valid
UTF-8 without control or bidirectional-formatting characters (escaped as ``\\x1b``, ``\\u202e``; a
newline and a tab stay), at most a given length. :func:`csv_cell` neutralises a spreadsheet formula
(OWASP's CSV injection advice) and :func:`check_json` refuses JSON too deep or too large to parse
before the parser sees it.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import unicodedata
from typing import Any

MAX_REASON = 600
MAX_JSON_DEPTH = 64
"""Nesting a notebook or a child's report may have (nbformat needs about 8)."""
MAX_JSON_VALUES = 1_000_000
"""Values (items of lists and objects) a JSON document may have before it is parsed."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _unsafe_characters() -> re.Pattern[str]:
    """Control (Cc, but newline and tab), format (Cf: bidi, zero-width), surrogate and line-separator characters."""
    codes = [c for c in range(sys.maxunicode + 1)
             if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs", "Zl", "Zp") and chr(c) not in "\n\t"]
    ranges, start, previous = [], codes[0], codes[0]
    for code in codes[1:] + [-1]:
        if code != previous + 1:
            ranges.append(f"\\U{start:08x}" + (f"-\\U{previous:08x}" if previous != start else ""))
            start = code
        previous = code
    return re.compile("[" + "".join(ranges) + "]")


UNSAFE = _unsafe_characters()


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe_text(text: Any, cap: int = MAX_REASON) -> str:
    """``text`` as a safe ``str``: valid UTF-8, control and bidi characters escaped, at most ``cap`` characters.

    Bytes are decoded as UTF-8 (invalid bytes escaped as ``\\xNN``); a lone surrogate (from JSON's
    ``\\ud800`` or a file name that is not UTF-8) is escaped too. Idempotent: safe text stays as it is.
    """
    if isinstance(text, bytes):
        text = text[: cap * 4 + 4].decode("utf-8", errors="backslashreplace")
    elif not isinstance(text, str):
        try:
            text = str(text)
        except Exception as exc:  # noqa: BLE001 (a hostile __str__)
            text = f"<unprintable {type(text).__name__}: {type(exc).__name__}>"
    text = UNSAFE.sub(_escape, text[: cap + 1])
    return text if len(text) <= cap else text[: max(0, cap - 3)] + "..."


def safe_file_name(name: str | bytes) -> str:
    """A file name as safe text (a name that is not valid UTF-8 keeps its bytes visible as ``\\xNN``)."""
    raw = name if isinstance(name, bytes) else os.fsencode(name)
    return safe_text(raw.decode("utf-8", errors="backslashreplace"), 255)


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with ``= + - @``, tab or CR gets a ``'``.

    Numbers stay numbers (a negative number is not text); every other text passes through :func:`safe_text`
    first (it should already be safe: this is the last line of defence).
    """
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int | float):
        return value
    text = safe_text(value, 100_000)
    return "'" + text if text.startswith(FORMULA_START) else text


def check_json(data: bytes | str, what: str, max_depth: int = MAX_JSON_DEPTH,
               max_values: int = MAX_JSON_VALUES) -> None:
    """Raise ``ValueError`` naming ``what`` if the JSON ``data`` nests deeper than ``max_depth`` or has too many values.

    Checked before parsing (the parser's memory grows with both): strings are skipped, then the brackets
    and separators outside them are counted, all with the regular-expression engine (no Python loop).
    """
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    bare = re.sub(rb'"[^"\\]*(?:\\.[^"\\]*)*"', b"", raw)
    values = bare.count(b",") + bare.count(b":") + 1
    if values > max_values:
        raise ValueError(f"{what} has more than {max_values} JSON values; it is not a notebook the grader reads")
    brackets = re.sub(rb"[^\[\]{}]+", b"", bare)
    depth = deepest = 0
    opened = re.compile(rb"[\[{]+")
    for match in re.finditer(rb"[\[{]+|[\]}]+", brackets):
        run = len(match.group())
        depth += run if opened.fullmatch(match.group()) else -run
        deepest = max(deepest, depth)
        if deepest > max_depth:
            raise ValueError(f"{what} nests JSON deeper than {max_depth} levels; it is not a notebook the "
                             f"grader reads")


def read_regular(path: str | os.PathLike, cap: int) -> bytes | None:
    """The bytes of the regular file ``path``, opened without following a link; ``None`` if over ``cap`` bytes.

    Raises ``OSError`` naming the file when it is a symbolic link, a device, a pipe or a folder.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        why = "a symbolic link" if exc.errno == 40 else exc.strerror  # ELOOP: O_NOFOLLOW met a link
        raise OSError(exc.errno, f"{safe_file_name(os.path.basename(path))} cannot be read safely: {why}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{safe_file_name(os.path.basename(path))} is not a regular file")
        if info.st_size > cap:
            return None
        parts, left = [], cap + 1
        while left and (part := os.read(fd, min(left, 1 << 20))):
            parts.append(part)
            left -= len(part)
        data = b"".join(parts)
        return None if len(data) > cap else data
    finally:
        os.close(fd)


clean_text = safe_text  # the name of the first split; kept importable
