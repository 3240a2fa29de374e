"""Exceptions raised by the data layer.

Every message names the file or dataset concerned and says what to do next.
"""

from __future__ import annotations


class DataError(RuntimeError):
    """Base class for every data-layer error of the kit."""


class DataUnavailableError(DataError):
    """The data cannot be had: no network and no cache, or a file that is not where it should be."""


class CorruptDataError(DataError):
    """A download or a cached file does not have the sha256 it must have."""


class DataShapeError(DataError, ValueError):
    """A file was read but does not hold what the loader expects (shape, dtype, finite values)."""
