"""inference/engine/ is pure torch + transformers + peft: it never imports Django."""
import ast
from pathlib import Path

import inference.engine

ENGINE = Path(inference.engine.__file__).parent


def test_no_module_of_the_engine_imports_django():
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "import_module", "__import__"
            ):
                names = [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            offenders += [f"{path.relative_to(ENGINE)}:{node.lineno} {n}" for n in names
                          if n.split(".")[0] in ("django", "rest_framework", "channels")]
    assert offenders == []
