"""Adapter directories on disk, with nothing but the standard library (the web tier imports this).

Writes are atomic: build in a temp dir beside the destination, fsync, rename. A crash at any point
leaves either no destination or a complete one, plus at most a temp dir whose name starts with
TEMP_PREFIX, which `remove_orphans` deletes at start-up. A destination is never rewritten: (model,
revision) names fixed weights, and engines cache by it.
"""
from __future__ import annotations

import io
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import PathNotAllowed

TEMP_PREFIX = ".tmp-"
CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
ZIP_CHUNK = 1 << 20  # bytes read (and yielded) at a time when streaming a zip


@contextmanager
def atomic_directory(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temp dir; on a clean exit fsync its files and rename it to `dest`.

    `dest` must not exist yet, not even empty (a rename would silently replace an empty directory).
    Python has no rename-without-replace, so the check relies on one writer per destination
    (trainings of one model are serialised)."""
    dest = Path(dest)
    if os.path.lexists(dest):
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
        if os.path.lexists(dest):
            raise FileExistsError(f"{dest} already exists; adapter directories are never overwritten")
        os.rename(tmp, dest)
        _fsync_dir(dest.parent)  # make the rename itself durable
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def require_within(root: str | os.PathLike | None, path: str | os.PathLike) -> None:
    """Raise PathNotAllowed unless `path` lies strictly inside the directory `root`, symlinks resolved.

    Every path an engine is asked to read or write (a request's destination, a source adapter) comes
    from a message: whoever can write that message (a Redis, a worker queue) must not make the engine
    read or overwrite files elsewhere. `root` None means a library caller that trusts its own paths;
    the server always sets it (EngineConfig.adapters_root). "" is an untouched revision 0: no file."""
    if root is None or path == "":
        return
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root or real == real_root:
        raise PathNotAllowed(f"Adapter path outside the adapters directory refused: {str(path)[:200]!r}")


def copy_directory(source: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Copy a directory tree to `dest` atomically (symlinks are copied as what they point to)."""
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is not a directory")
    with atomic_directory(dest) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)


def is_adapter_dir(path: Path) -> bool:
    """A directory that holds a PEFT adapter (what the engine writes)."""
    return path.is_dir() and ((path / CONFIG_NAME).is_file() or (path / WEIGHTS_NAME).is_file())


def remove_orphans(model_dir: str | os.PathLike, keep: Iterable[str], *, min_age: float = 0.0) -> list[str]:
    """Delete, directly under `model_dir`, every temp dir of an interrupted write and every adapter
    directory not in `keep` (the revisions the database knows). Returns the removed paths, sorted.

    `keep` holds paths or bare directory names. Anything else (files, directories that are not
    adapters) is left alone: a wrong `model_dir` must not wipe unrelated data. Entries modified less
    than `min_age` seconds ago are left too: another process may be about to commit them.
    """
    root = Path(model_dir)
    if not root.is_dir():
        return []
    kept = {os.path.realpath(root / k if os.sep not in str(k) else k) for k in keep}
    now = time.time()
    removed = []
    for entry in sorted(root.iterdir()):
        if entry.is_symlink() or not entry.is_dir() or now - entry.stat().st_mtime < min_age:
            continue
        orphan_tmp = entry.name.startswith(TEMP_PREFIX)
        if orphan_tmp or (is_adapter_dir(entry) and os.path.realpath(entry) not in kept):
            shutil.rmtree(entry)
            removed.append(str(entry))
    if removed:
        _fsync_dir(root)
    return removed


def adapter_files(adapter_dir: str | os.PathLike) -> list[Path]:
    """The files of a PEFT adapter directory that an export contains, config first."""
    root = Path(adapter_dir)
    files = [root / CONFIG_NAME, root / WEIGHTS_NAME]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{root} is not a complete adapter directory: missing {', '.join(missing)}")
    return files


class _Sink(io.RawIOBase):
    """A write-only, unseekable buffer the zip writer fills and the generator drains."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.parts.append(bytes(b))
        return len(b)

    def drain(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def stream_zip(adapter_dir: str | os.PathLike) -> Iterator[bytes]:
    """The zip of an adapter directory (files at the archive root), as chunks of bytes, without
    holding the weights in memory; for a streaming HTTP response."""
    files = adapter_files(adapter_dir)  # checked before the first byte goes out
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w") as archive:
        for path in files:
            # Weights are float noise to a compressor: store them; deflate the JSON.
            method = zipfile.ZIP_STORED if path.suffix == ".safetensors" else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo.from_file(path, arcname=path.name)
            info.compress_type = method
            with open(path, "rb") as src, archive.open(info, mode="w", force_zip64=True) as dst:
                while chunk := src.read(ZIP_CHUNK):
                    dst.write(chunk)
                    if data := sink.drain():
                        yield data
            if data := sink.drain():
                yield data
    if data := sink.drain():
        yield data


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
