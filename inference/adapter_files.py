"""Where adapter revisions live on disk, and the file operations the web side does without PyTorch.

Layout: <TIGER_DATA_DIR>/adapters/<model key>/rev-<n>/ (a standard PEFT adapter directory). Directories
are named by the model's UUID, never by anything a user typed.
"""
import shutil
from pathlib import Path

from django.conf import settings

from inference.engine.files import copy_directory


def adapters_root() -> Path:
    return Path(settings.DATA_DIR) / "adapters"


def model_dir(key) -> Path:
    return adapters_root() / str(key)


def revision_relpath(key, number: int) -> str:
    return f"{key}/rev-{number}"


def absolute(relpath: str) -> str:
    """The absolute path of a stored revision; "" stays "" (an untouched revision 0)."""
    return str(adapters_root() / relpath) if relpath else ""


def stored_bytes(relpath: str) -> int:
    """The bytes of the files of a stored revision (0 for "", an untouched revision 0, or one gone)."""
    if not relpath:
        return 0
    root = adapters_root() / relpath
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def copy_revision(source_relpath: str, dest_relpath: str) -> None:
    """Copy an adapter directory atomically (temp dir beside the destination, fsync, rename)."""
    copy_directory(adapters_root() / source_relpath, adapters_root() / dest_relpath)


def delete_model_files(key) -> None:
    shutil.rmtree(model_dir(key), ignore_errors=True)


def remove_partial(relpath: str) -> None:
    """Remove a directory left at `relpath` by a crash before its row was committed (no row names it)."""
    shutil.rmtree(adapters_root() / relpath, ignore_errors=True)
