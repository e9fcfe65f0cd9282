"""Layers only go down, and a private name stays inside its package.

Read from the source (no imports run): every module of the project, tests and tools included.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("apikeys", "inference", "playground", "tigercity", "tools", "bench", "tests")


def modules():
    """(dotted name of the module, its package, its syntax tree) for every module of the project."""
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            package = ".".join(parts[:-1])
            name = package if parts[-1] == "__init__" else ".".join(parts)
            yield name, package, ast.parse(path.read_text(), str(path))


def is_project_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def package_of(dotted: str) -> str:
    """The package a module belongs to (a package's own __init__ belongs to the package itself)."""
    return dotted if (ROOT.joinpath(*dotted.split(".")) / "__init__.py").is_file() else dotted.rpartition(".")[0]


def absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(name: str, package: str, tree: ast.AST) -> list[str]:
    """Private names this module takes from a module of another package: imported by name, or read as
    an attribute of an imported module."""
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = absolute(node, package)
            if not is_project_module(source):
                continue
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if is_project_module(target):
                    aliases[alias.asname or alias.name] = target
                elif private(alias.name) and package_of(source) != package:
                    found.append(f"{name} imports {alias.name} from {source}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if is_project_module(alias.name) and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and private(node.attr) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and package_of(aliases[node.value.id]) != package):
            found.append(f"{name} reads {aliases[node.value.id]}.{node.attr}")
    return found


def imports(tree: ast.AST, package: str) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = absolute(node, package)
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_module_takes_a_private_name_from_another_package():
    found = [use for name, package, tree in modules() for use in private_uses(name, package, tree)]
    assert found == []


def test_the_check_sees_a_private_import_and_a_private_attribute():
    tree = ast.parse("from inference.runtime import _runtime\nfrom inference import services\nservices._hidden()\n")
    assert private_uses("playground.views.x", "playground.views", tree) == [
        "playground.views.x imports _runtime from inference.runtime",
        "playground.views.x reads inference.services._hidden",
    ]
    assert private_uses("inference.y", "inference", tree) == []  # inside its own package


def test_only_the_url_configuration_reaches_into_the_http_api():
    """The Playground and the inference services sit below inference/api: they never import it."""
    found = []
    for name, package, tree in modules():
        if name.startswith(("inference.api", "tigercity", "tests", "bench")):
            continue
        found += [f"{name} imports {target}" for target in imports(tree, package)
                  if target == "inference.api" or target.startswith("inference.api.")]
    assert found == []
