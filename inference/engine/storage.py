"""Adapter revisions on disk: written atomically, reconciled at start-up, exported as a zip.

A revision is a standard PEFT adapter directory (adapter_config.json + adapter_model.safetensors)
that `peft.PeftModel.from_pretrained(base, path)` loads. It is written into `.tmp-<uuid>` next to its
destination, every file and the directory are fsynced, then one `os.rename` makes it appear: a crash
leaves either no destination or a complete one, plus maybe a temp dir that `remove_orphans` deletes.
A destination is never rewritten: (model, revision) names fixed weights, engines cache by it.
"""
from __future__ import annotations

import copy
import io
import os
import shutil
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from peft.utils import get_peft_model_state_dict
from safetensors.torch import save_file

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
TMP_PREFIX = ".tmp-"
ZIP_CHUNK = 1 << 20  # bytes read (and yielded) at a time when streaming a zip


def write_revision(peft_model, adapter_name: str, dest_path: str | os.PathLike) -> Path:
    """Save one adapter of `peft_model` as a PEFT adapter directory at `dest_path`, atomically.

    Raises FileExistsError if `dest_path` exists (even empty: a rename would silently replace an
    empty directory). The parent directory is created if needed. Returns the destination.
    """
    dest = Path(dest_path)
    if adapter_name not in peft_model.peft_config:
        raise ValueError(f"adapter {adapter_name!r} is not loaded (loaded: {sorted(peft_model.peft_config)})")
    if os.path.lexists(dest):
        raise FileExistsError(f"refusing to overwrite the existing revision directory {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        _write_adapter_files(peft_model, adapter_name, tmp)
        for name in (WEIGHTS_NAME, CONFIG_NAME):
            _fsync_file(tmp / name)
        _fsync_dir(tmp)
        # Single writer per model (trainings of one model are serialised), so checking right before
        # the rename is enough; Python exposes no RENAME_NOREPLACE.
        if os.path.lexists(dest):
            raise FileExistsError(f"refusing to overwrite the existing revision directory {dest}")
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(dest.parent)  # make the rename itself durable
    return dest


def _write_adapter_files(peft_model, adapter_name: str, directory: Path) -> None:
    """What `PeftModel.save_pretrained` writes for one adapter, without its README or its habit of
    nesting non-"default" adapters in a sub-directory."""
    state = get_peft_model_state_dict(peft_model, adapter_name=adapter_name, save_embedding_layers=False)
    # Own, contiguous CPU copies: safetensors refuses shared or strided storage.
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
    save_file(tensors, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
    config = copy.deepcopy(peft_model.peft_config[adapter_name])
    config.inference_mode = True  # as save_pretrained does: a loaded revision is frozen by default
    if config.base_model_name_or_path is None:
        config.base_model_name_or_path = getattr(peft_model.base_model.model, "name_or_path", None) or None
    config.save_pretrained(str(directory))


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_adapter_dir(path: Path) -> bool:
    """A directory that holds a PEFT adapter (what write_revision produces)."""
    return path.is_dir() and ((path / CONFIG_NAME).is_file() or (path / WEIGHTS_NAME).is_file())


def remove_orphans(model_dir: str | os.PathLike, keep: Iterable[str]) -> list[str]:
    """Delete, directly under `model_dir`, every temp dir of an interrupted write and every adapter
    directory not in `keep` (the revisions the database knows). Returns the removed paths, sorted.

    `keep` holds paths or bare directory names. Anything else (files, directories that are not
    adapters) is left alone: a wrong `model_dir` must not wipe unrelated data.
    """
    root = Path(model_dir)
    if not root.is_dir():
        return []
    kept = {os.path.realpath(root / k if os.sep not in str(k) else k) for k in keep}
    removed = []
    for entry in sorted(root.iterdir()):
        if entry.is_symlink() or not entry.is_dir():
            continue
        orphan_tmp = entry.name.startswith(TMP_PREFIX)
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


def export_zip(adapter_dir: str | os.PathLike) -> bytes:
    """The whole zip in memory (adapters are small: megabytes); see stream_zip for large ones."""
    return b"".join(stream_zip(adapter_dir))
