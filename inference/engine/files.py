"""Atomic directory writes: build in a temp dir beside the destination, fsync, rename.

A crash at any point leaves either no destination or a complete one, plus at most a temp dir whose
name starts with TEMP_PREFIX (removed at start-up with `remove_orphaned_temp_dirs`).
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_PREFIX = ".tmp-"


@contextmanager
def atomic_directory(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temp dir; on a clean exit fsync its files and rename it to `dest`.

    `dest` must not exist yet: a revision directory is never rewritten (the engine caches by path)."""
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; adapter directories are never overwritten")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f"{TEMP_PREFIX}{dest.name}-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        yield tmp
        for path in tmp.rglob("*"):
            if path.is_file():
                _fsync_file(path)
        _fsync_dir(tmp)
        os.rename(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def copy_directory(source: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Copy a directory tree to `dest` atomically (symlinks are copied as what they point to)."""
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is not a directory")
    with atomic_directory(dest) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)


def remove_orphaned_temp_dirs(parent: str | os.PathLike) -> list[Path]:
    """Delete temp dirs that a crashed atomic write left in `parent`; returns what was removed."""
    parent = Path(parent)
    removed = []
    if parent.is_dir():
        for path in parent.iterdir():
            if path.is_dir() and path.name.startswith(TEMP_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
