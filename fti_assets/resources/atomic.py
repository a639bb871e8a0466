"""Atomic writes: a reader finds the previous file or the new one whole, never a part of it.

The content goes to a hidden temporary name in the target's own folder (a rename is atomic
only within one file system) and is renamed onto the target once complete; a failed or
killed write leaves the target as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import polars as pl


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside ``target`` for the block to write: renamed onto ``target`` when
    the block succeeds, removed when it raises. Its name ends in ``.tmp``, so globs for the
    target's suffix (``*.parquet``) never see it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically; returns the target."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_text(target: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically; returns the target."""
    return atomic_write_bytes(target, text.encode())


def atomic_write_parquet(frame: pl.DataFrame, target: Path) -> None:
    """Write ``frame`` as zstd Parquet with statistics, atomically."""
    with atomic_path(target) as tmp:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
