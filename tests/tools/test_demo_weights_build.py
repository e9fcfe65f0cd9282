"""The demo-weight builder (tools/demo_weights) writes the same bytes when run twice: its budget is a
number of steps, not seconds. Small corpora and 3 steps: the same code path as `make demo-weights`."""
import hashlib
import json
import shutil
from pathlib import Path

from inference.engine.demo import WEIGHTS_DIR
from tools.demo_weights.build import build


def digests(root: Path) -> dict[str, str]:
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(root.rglob("*")) if f.is_file()}


def quiet(*_):
    pass


def test_a_fresh_build_writes_the_same_bytes_twice(tmp_path):
    for name in ("a", "b"):
        build(tmp_path / name, 3, n_dialogues=60, log=quiet)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert "model.safetensors" in {Path(k).name for k in digests(tmp_path / "a")}


def test_a_resumed_build_writes_the_same_bytes_twice_and_keeps_the_shipped_vocabulary(tmp_path):
    for name in ("a", "b"):
        shutil.copytree(WEIGHTS_DIR, tmp_path / name)
        info = build(tmp_path / name, 3, resume=True, n_dialogues=60, log=quiet)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    shipped, resumed = digests(WEIGHTS_DIR), digests(tmp_path / "a")
    for fmt in ("llama-3.1-8b-demo", "deepseek-r1-8b-demo"):
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json"):
            assert resumed[f"{fmt}/{name}"] == shipped[f"{fmt}/{name}"], (fmt, name)
        assert resumed[f"{fmt}/model.safetensors"] != shipped[f"{fmt}/model.safetensors"]
    before = json.loads((WEIGHTS_DIR / "llama-3.1-8b-demo" / "build_info.json").read_text())
    assert (info["steps"], info["sessions"]) == (before["steps"] + 3, before["sessions"] + 1)
