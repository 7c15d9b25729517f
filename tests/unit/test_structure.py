"""The shape the team keeps the code in (doc/design.rst, "Layout"):
small modules and functions, protection/ never importing plugins/, flows/
never importing protection/ or plugins/, no plugin importing another.
Checked on the source text, so a violation fails here first."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("protection", "flows", "plugins")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60


def _modules():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def _plugin_of(path):
    """``plugins/server/x.py`` -> ``server``; ``plugins/volume.py`` ->
    ``volume``."""
    rel = path.relative_to(ROOT / "plugins")
    return rel.parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", list(_modules()),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines"


@pytest.mark.parametrize("path", list(_modules()),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_are_small(path):
    tree = ast.parse(path.read_text())
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long


def test_layering():
    wrong = []
    for path in _modules():
        package = path.relative_to(ROOT).parts[0]
        for name in _imports(path):
            top = name.split(".")[0]
            if package == "protection" and top == "plugins":
                wrong.append(f"{path}: imports {name}")
            if package == "flows" and top in ("protection", "plugins"):
                wrong.append(f"{path}: imports {name}")
            if package == "plugins" and top == "plugins" and \
                    name.split(".")[1:2] != [_plugin_of(path)]:
                wrong.append(f"{path}: imports {name}")
    assert not wrong


def test_nothing_outside_tests_imports_tests():
    wrong = [f"{path}: imports {name}"
             for folder in PACKAGES + ("tools", "benchmarks")
             for path in sorted((ROOT / folder).rglob("*.py"))
             for name in _imports(path) if name.split(".")[0] == "tests"]
    assert not wrong
