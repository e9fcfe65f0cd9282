"""Adapter revisions on disk: atomic writes, loadable by PEFT, reconciliation, zip export."""
import io
import os
import zipfile

import pytest
import torch
from peft import PeftModel

from inference.engine import files
from inference.engine.lora import saving as storage
from inference.engine.files import remove_orphans, stream_zip
from inference.engine.lora.saving import write_revision
from inference.engine.training.reward_update import adapter_parameters
from .tiny import tiny_llama, tiny_peft, tiny_tokenizer


@pytest.fixture
def root(tmp_path):
    """An empty directory of our own (tests/conftest.py may put a data dir in tmp_path)."""
    path = tmp_path / "adapters"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def trained():
    """A PEFT model whose adapter "user2" has random (non-zero) weights, as after a training."""
    model, _ = tiny_peft(("user1", "user2"))
    return model


def test_a_revision_is_a_standard_peft_directory_that_from_pretrained_loads(trained, root):
    dest = write_revision(trained, "user2", root / "m1" / "3")
    assert sorted(os.listdir(dest)) == ["adapter_config.json", "adapter_model.safetensors"]
    assert os.listdir(root / "m1") == ["3"]  # no temp dir left behind

    loaded = PeftModel.from_pretrained(tiny_llama(tiny_tokenizer()), str(dest))
    expected = adapter_parameters(trained, "user2")
    got = adapter_parameters(loaded, "default")
    assert len(got) == len(expected) > 0
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    assert not any(p.requires_grad for p in loaded.parameters())  # saved with inference_mode=True
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        reference = trained(input_ids=ids, adapter_names=["user2"]).logits
        assert torch.allclose(loaded(input_ids=ids).logits, reference, atol=1e-6)


def test_an_existing_destination_is_never_overwritten(trained, root):
    full = root / "1"
    write_revision(trained, "user1", full)
    before = (full / "adapter_model.safetensors").read_bytes()
    with pytest.raises(FileExistsError):
        write_revision(trained, "user2", full)
    assert (full / "adapter_model.safetensors").read_bytes() == before
    (root / "2").mkdir()  # even an empty directory, which a rename would silently replace
    with pytest.raises(FileExistsError):
        write_revision(trained, "user2", root / "2")
    assert sorted(os.listdir(root)) == ["1", "2"]


def test_the_destination_appears_only_complete_and_fsynced(trained, root, monkeypatch):
    synced, seen = [], []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    def rename(src, dst):
        assert not os.path.exists(dst)
        seen.append(sorted(os.listdir(src)))
        assert {os.path.join(src, n) for n in seen[-1]} | {str(src)} <= set(synced)  # files, then the dir
        return real_rename(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "rename", rename)
    write_revision(trained, "user2", root / "7")
    assert seen == [["adapter_config.json", "adapter_model.safetensors"]]
    assert synced[-1] == str(root)  # the parent, after the rename


def test_a_crash_while_writing_leaves_no_destination_and_no_temp_dir(trained, root, monkeypatch):
    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(storage, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_revision(trained, "user2", root / "5")
    assert os.listdir(root) == []


def test_an_unknown_adapter_is_refused(trained, root):
    with pytest.raises(ValueError, match="nope"):
        write_revision(trained, "nope", root / "1")


def test_remove_orphans_deletes_temp_dirs_and_unknown_revisions_only(trained, root):
    for rev in ("1", "2", "3"):
        write_revision(trained, "user1", root / rev)
    (root / ".tmp-0123abcd").mkdir()
    (root / ".tmp-0123abcd" / "adapter_model.safetensors").write_bytes(b"half")
    (root / "notes").mkdir()  # not an adapter: not ours to delete
    (root / "README").write_text("hello")
    removed = remove_orphans(root, keep={"1", str(root / "3")})
    assert removed == [str(root / ".tmp-0123abcd"), str(root / "2")]
    assert sorted(os.listdir(root)) == ["1", "3", "README", "notes"]
    assert remove_orphans(root, keep={"1", "3"}) == []
    assert remove_orphans(root / "missing", keep=set()) == []


def test_export_zip_holds_the_adapter_files_at_its_root(trained, root):
    dest = write_revision(trained, "user2", root / "1")
    with zipfile.ZipFile(io.BytesIO(b"".join(stream_zip(dest)))) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["adapter_config.json", "adapter_model.safetensors"]
        for name in archive.namelist():
            assert archive.read(name) == (dest / name).read_bytes()


def test_stream_zip_yields_chunks_that_form_the_same_zip(trained, root, monkeypatch):
    dest = write_revision(trained, "user2", root / "1")
    monkeypatch.setattr(files, "ZIP_CHUNK", 1024)
    chunks = list(stream_zip(dest))
    assert len(chunks) > 3
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.read("adapter_model.safetensors") == (dest / "adapter_model.safetensors").read_bytes()


def test_exporting_an_incomplete_directory_fails_before_any_byte(root):
    (root / "adapter_config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors"):
        next(stream_zip(root))
