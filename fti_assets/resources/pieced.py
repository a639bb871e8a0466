"""A table stored as a folder of piece files, written one piece at a time and swapped in whole.

``training_dataset`` is built month by month. Each finished month goes straight to its own
Parquet file, so memory follows a month, not the window. The files are written to a hidden
version folder (``store/.versions/<table>/<version>.partial``) that no reader looks at; when
every piece is there, ``commit`` renames it to ``<version>`` and replaces the symbolic link
``store/<table>`` in one rename. Readers (``OfflineStore.read``/``scan``, the DuckDB view) see
the previous set or the new one, never a mixture. The previous version stays for readers
still on it; older ones are removed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from fti_assets.domain.retrieval import content_hash_of_pieces
from fti_assets.resources.atomic import atomic_write_parquet

if TYPE_CHECKING:
    from fti_assets.resources.offline_store import OfflineStore

PARTIAL = ".partial"


@dataclass(frozen=True)
class StagedTable:
    """Pieces of ``table`` written under ``folder`` and not yet visible to readers; the IO
    manager commits them when it stores the asset's output."""

    table: str
    folder: str


def versions_dir(store: OfflineStore, table: str) -> Path:
    return store.root / ".versions" / table


OWNER = "owner.pid"
"""A staging folder's file naming the process that writes it."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_abandoned(store: OfflineStore) -> list[Path]:
    """Staging folders of every table whose writer is gone (a killed run): no commit will ever
    come for them. Folders of running writers, and of this process, stay."""
    removed = []
    for folder in sorted((store.root / ".versions").glob(f"*/*{PARTIAL}")):
        try:
            owner = int((folder / OWNER).read_text())
        except (OSError, ValueError):  # being created right now, or written before owners were recorded
            continue
        if owner != os.getpid() and not _alive(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def stage(store: OfflineStore, table: str, version: str) -> StagedTable:
    """An empty staging folder for a new version of ``table`` (a run id names it); staging
    folders a killed run left behind are removed first."""
    remove_abandoned(store)
    folder = versions_dir(store, table) / f"{version}{PARTIAL}"
    shutil.rmtree(folder, ignore_errors=True)  # a retried step starts over
    folder.mkdir(parents=True)
    (folder / OWNER).write_text(str(os.getpid()))
    return StagedTable(table, str(folder))


def write_piece(staged: StagedTable, name: str, frame: pl.DataFrame) -> Path:
    """One piece, atomically; names sort in the table's row order (the piece's first day)."""
    target = Path(staged.folder) / f"{name}.parquet"
    atomic_write_parquet(frame, target)
    return target


def piece_files(folder: str | Path) -> list[Path]:
    """The piece files of a folder in row order."""
    return sorted(Path(folder).glob("*.parquet"))


def scan_pieces(folder: str | Path) -> pl.LazyFrame:
    files = piece_files(folder)
    if not files:
        raise FileNotFoundError(f"no piece was written under {folder}")
    return pl.scan_parquet(files)


def iter_pieces(folder: str | Path) -> Iterator[pl.DataFrame]:
    """Each piece in turn: only one is in memory at a time."""
    for path in piece_files(folder):
        yield pl.read_parquet(path)


def pieces_hash(folder: str | Path, key: str) -> str:
    """The content hash of the table the pieces make, one piece in memory at a time; equal to
    ``content_hash`` of their concatenation."""
    return content_hash_of_pieces(iter_pieces(folder), key)


def discard(staged: StagedTable) -> None:
    shutil.rmtree(staged.folder, ignore_errors=True)


def commit(store: OfflineStore, staged: StagedTable) -> Path:
    """Make the staged pieces the table: one rename of the link ``store/<table>``."""
    link, partial = store.table_dir(staged.table), Path(staged.folder)
    if not piece_files(partial):
        raise FileNotFoundError(f"nothing to commit for '{staged.table}': {partial} holds no piece")
    final = partial.with_name(partial.name.removesuffix(PARTIAL))
    os.replace(partial, final)
    versions = versions_dir(store, staged.table)
    previous = link.resolve() if link.is_symlink() else None
    if link.exists() and not link.is_symlink():
        # A table written whole before it was pieced: keep it as the previous version.
        previous = versions / "whole"
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(link, previous)
    tmp = link.with_name(f".{staged.table}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    # Relative, so a copied or moved FTI_HOME keeps working.
    os.symlink(os.path.relpath(final, link.parent), tmp)
    os.replace(tmp, link)
    keep = {final.resolve(), previous.resolve() if previous else None}
    for old in versions.iterdir():
        if old.resolve() not in keep and not old.name.endswith(PARTIAL):  # partial: another run building
            shutil.rmtree(old, ignore_errors=True)
    store.register_view(staged.table, link)
    return link
