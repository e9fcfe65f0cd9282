"""An engine with an adapters directory refuses every request path outside it (a message over Redis or a
pipe must not make the engine read or write files elsewhere)."""
import os

import pytest

from inference.engine.errors import PathNotAllowed
from inference.engine.files import require_within
from inference.engine.types import AdapterRef, LoraSpec, TrainingGroup, TrainingRequest

from .conftest import Stream, request
from .tiny import BASE


def test_require_within_resolves_dot_dot_and_symlinks(tmp_path):
    root = tmp_path / "adapters"
    (root / "m").mkdir(parents=True)
    (root / "escape").symlink_to(tmp_path)
    require_within(root, root / "m" / "rev-1")
    require_within(root, "")  # an untouched revision 0 names no file
    for outside in (tmp_path / "other", root / ".." / "other", root / "escape" / "x", root, "/etc/passwd",
                    f"{root}-sibling/x"):
        with pytest.raises(PathNotAllowed):
            require_within(root, outside)


def test_the_engine_refuses_paths_outside_its_adapters_directory(make_engine, adapter_factory, tmp_path):
    root = tmp_path / "adapters"
    root.mkdir()
    engine = make_engine(adapters_root=str(root))
    outside_source = adapter_factory("a", seed=1)  # a real adapter, but not under root
    assert not os.path.realpath(outside_source.path).startswith(str(root))

    with pytest.raises(PathNotAllowed):
        engine.create_adapter(BASE, LoraSpec(rank=2), str(tmp_path / "elsewhere"))
    with pytest.raises(PathNotAllowed):
        engine.create_adapter(BASE, LoraSpec(rank=2), str(root / "m" / "rev-0"), copy_from=outside_source)
    with pytest.raises(PathNotAllowed):
        engine.submit(request(adapter=outside_source), Stream())
    group = TrainingGroup(messages=({"role": "user", "content": "Hi"},), responses=("a", "b"), rewards=(1.0, 0.0))
    for source, dest in ((AdapterRef("m", 0, ""), str(tmp_path / "out")), (outside_source, str(root / "m" / "rev-1"))):
        with pytest.raises(PathNotAllowed):
            engine.train(TrainingRequest(request_id="t", base=BASE, source=source, dest_revision=1, dest_path=dest,
                                         groups=(group,), lora=LoraSpec(rank=2)))
    from inference.engine.types import FineTuneRequest

    with pytest.raises(PathNotAllowed):
        engine.finetune(FineTuneRequest(job_id="j", base=BASE, source=outside_source, dest_revision=1,
                                        dest_path=str(root / "m" / "rev-1"), stages=()), lambda event: None)
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "out").exists()
    assert list(root.iterdir()) == []

    engine.create_adapter(BASE, LoraSpec(rank=2), str(root / "m" / "rev-0"))  # inside: written
    stream = Stream()
    engine.submit(request(adapter=AdapterRef("m", 0, str(root / "m" / "rev-0"))), stream)
    assert stream.wait().last.kind == "done"

