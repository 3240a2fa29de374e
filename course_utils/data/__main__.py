"""Command line: ``python -m course_utils.data {download-all,list}``.

``download-all`` fetches and verifies every registered dataset, so the notebooks then run offline.
``list`` shows each dataset, its source and whether the cache holds a verified copy.
"""

from __future__ import annotations

import argparse
import sys

from .cache import cache_dir, fetch, sha256_of, unusable_cache_error
from .errors import DataError
from .registry import REGISTRY


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.data", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["download-all", "list"])
    args = parser.parse_args(argv)
    print(f"cache: {cache_dir()}")
    status = 0
    for name, source in REGISTRY.items():
        path = cache_dir() / source.filename
        if args.command == "list":
            try:
                state = "verified" if path.exists() and sha256_of(path) == source.sha256 else "not cached"
            except OSError as exc:
                state, status = "unreadable", 1
                print(f"  {name:10s} {unusable_cache_error(cache_dir(), exc, 'read')}", file=sys.stderr)
            print(f"  {name:10s} {state:10s} {source.label}")
            continue
        try:
            print(f"  {name:10s} ok  {fetch(source)}")
        except DataError as exc:
            print(f"  {name:10s} FAILED: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
