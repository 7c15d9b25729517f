"""The shape the team keeps the code in (doc/design.rst, "Layout"):
small modules and functions, and the import layers: each sub-package of
protection/ imports its own package and lower layers only (:data:`LAYERS`),
flows/ imports neither protection/ nor plugins/, plugins/ import only the
plugin door (protection.plugin, protection.exceptions) and no other plugin.
The CLI's lazy imports (``LazyModule("protection.x")``) count as imports.
And the tests' own shape (doc/design.rst, "Tests"): tests/unit/ mirroring
the source tree, no module under tests/ importing a test module or a
conftest. Checked on the source text, so a violation fails here first."""

import ast
import configparser
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("protection", "flows", "plugins")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60

# protection's sub-packages (and top-level modules), lowest layer first.
# Where this differs from one line per concept, the code has a reason:
# config registers the options of the components the loader finds; the
# Swift bank streams (transfer) over a connection (cloud); the restore
# dry-run builds the operation's flow (operations.runner) to read it;
# auth (Keystone trusts) needs only exceptions, and config lists its
# [trustee] options.
LAYERS = (
    ("exceptions",),
    ("heartbeat", "loader", "auth"),
    ("config",),
    ("db",),
    ("model",),
    ("cloud", "transfer"),
    ("bank", "datasources"),
    ("checkpoint",),
    ("plugin",),
    ("operations",),
    ("restore", "plans"),
    ("service",),
    ("api", "testing"),
    ("cli",),
)
LAYER_OF = {name: level for level, names in enumerate(LAYERS)
            for name in names}
# What plugins/ may import of protection: the door (``from
# protection.plugin import x``, x a re-exported name or public submodule)
# and the exceptions.
PLUGIN_DOOR = "protection.plugin"
PLUGIN_ALSO = ("protection.exceptions",)


def _modules():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _is_module(name):
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or \
        (path / "__init__.py").is_file()


def _imports_with_source(path):
    """``(imported module, module named in the statement)`` for every
    import of ``path``; ``from a import b`` gives ``a.b`` when that is a
    module, else ``a``; ``LazyModule("a.b")`` gives ``a.b``."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((a.name, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield (full if _is_module(full) else node.module,
                       node.module)
        elif isinstance(node, ast.Call) and \
                getattr(node.func, "id", None) == "LazyModule":
            name = node.args[0].value
            yield name, name


def _imports(path):
    return [name for name, _source in _imports_with_source(path)]


def _plugin_of(path):
    """``plugins/server/x.py`` -> ``server``; ``plugins/volume.py`` ->
    ``volume``."""
    rel = path.relative_to(ROOT / "plugins")
    return rel.parts[0].removesuffix(".py")


def _part_of_protection(path):
    """``protection/bank/swift.py`` -> ``bank``; ``protection/config.py``
    -> ``config``; ``protection/__init__.py`` -> ``None``."""
    parts = path.relative_to(ROOT / "protection").parts
    return None if parts == ("__init__.py",) else \
        parts[0].removesuffix(".py")


def _is_deprecated_alias(path):
    """A top-level module kept for an old import path (protection/_moved.py
    and the modules that call it, or a deprecated re-export)."""
    if path.parent != ROOT / "protection":
        return False
    text = path.read_text()
    return path.name == "_moved.py" or "_moved.alias(" in text or \
        (ast.get_docstring(ast.parse(text)) or "").startswith("Deprecated")


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


def _protection_layering_errors(path):
    """An import of a protection module reaching up or sideways."""
    mine = _part_of_protection(path)
    if mine is None or _is_deprecated_alias(path):
        return []
    if mine not in LAYER_OF:
        return [f"{path}: {mine} is not in LAYERS"]
    wrong = []
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "plugins":
            wrong.append(f"{path}: imports {name}")
        if parts[0] != "protection" or parts[1:2] == [mine]:
            continue
        theirs = parts[1] if len(parts) > 1 else None
        if theirs not in LAYER_OF or LAYER_OF[theirs] >= LAYER_OF[mine]:
            wrong.append(f"{path}: imports {name} (layer {mine} may "
                         f"import only lower layers)")
    return wrong


def _plugin_errors(path):
    """A plugin importing protection past its door, or another plugin."""
    wrong = []
    for name, source in _imports_with_source(path):
        parts = name.split(".")
        if parts[0] == "protection" and name not in PLUGIN_ALSO and \
                not (source == PLUGIN_DOOR and
                     not parts[-1].startswith("_")):
            wrong.append(f"{path}: imports {name}; plugins import only "
                         f"from {PLUGIN_DOOR} (and protection.exceptions)")
        if parts[0] == "plugins" and parts[1:2] != [_plugin_of(path)]:
            wrong.append(f"{path}: imports {name}")
    return wrong


def _layering_errors(path):
    package = path.relative_to(ROOT).parts[0]
    if package == "protection":
        return _protection_layering_errors(path)
    if package == "plugins":
        return _plugin_errors(path)
    return [f"{path}: imports {name}" for name in _imports(path)
            if name.split(".")[0] in ("protection", "plugins")]


def test_layering():
    wrong = [error for path in _modules() for error in _layering_errors(path)]
    assert not wrong


def test_nothing_outside_tests_imports_tests():
    wrong = [f"{path}: imports {name}"
             for folder in PACKAGES + ("tools", "benchmarks")
             for path in sorted((ROOT / folder).rglob("*.py"))
             for name in _imports(path) if name.split(".")[0] == "tests"]
    assert not wrong


def test_plugin_entry_points_have_one_form():
    """``<type> = plugins.<type>:<Class>``, the class exported by the
    module or package ``plugins.<type>`` (a package from its
    ``__init__``)."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    lines = setup["options.entry_points"]["stackvault.plugins"].split("\n")
    wrong = []
    for line in filter(None, (line.strip() for line in lines)):
        name, _, target = (part.strip() for part in line.partition("="))
        found = re.fullmatch(r"plugins\.(\w+):(\w+)", target)
        if not found or found[1] != name:
            wrong.append(line)
            continue
        path = ROOT / "plugins" / f"{name}.py"
        if not path.is_file():
            path = ROOT / "plugins" / name / "__init__.py"
        tree = ast.parse(path.read_text())
        defined = {node.name for node in ast.walk(tree)
                   if isinstance(node, ast.ClassDef)} | \
            {alias.asname or alias.name for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) for alias in node.names}
        if found[2] not in defined:
            wrong.append(f"{line}: {path.name} has no {found[2]}")
    assert not wrong


# -- the tests' own layout (doc/design.rst, "Tests") -------------------------
TESTS = ROOT / "tests"
UNIT = TESTS / "unit"
# What tests/unit/ mirrors: the framework's packages, the plugins, flows/
# and tools/ (devcloud, devstack and tempest-plugin helpers).
MIRRORED = ("protection", "plugins", "flows", "tools")


def _imported_names(path):
    """Every dotted name ``path`` imports, ``from a import b`` giving
    ``a.b`` too (``b`` may be a module); relative names start with dots."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            yield base
            yield from (f"{base.rstrip('.')}.{a.name}" if node.module
                        else f"{base}{a.name}" for a in node.names)


def _is_test_module(name):
    """A name under ``tests`` (or relative) naming a test_* module or a
    conftest."""
    if not (name.startswith(".") or name.split(".")[0] == "tests"):
        return False
    return any(part.startswith("test_") or part == "conftest"
               for part in name.lstrip(".").split("."))


def test_no_module_under_tests_imports_a_test_module_or_a_conftest():
    """Shared helpers live in tests/fakes/ or in fixtures: a test module
    imported by another runs its tests' import-time code twice, under two
    names, and ties the two files' layouts together."""
    wrong = sorted({f"{path.relative_to(ROOT)}: imports {name}"
                    for path in TESTS.rglob("*.py")
                    for name in _imported_names(path)
                    if _is_test_module(name)})
    assert not wrong


def _mirrors_a_source_package(rel):
    """``rel`` (a directory under tests/unit) names a source package, or
    a plugin type that is a single module (``plugins/keypair.py``)."""
    source = ROOT / rel
    if rel.parts[0] not in MIRRORED:
        return False
    if rel.parts == ("tools",):         # a folder of scripts, no package
        return source.is_dir()
    if (source / "__init__.py").is_file():
        return True
    return rel.parts[0] == "plugins" and len(rel.parts) == 2 and \
        source.with_suffix(".py").is_file()


def test_unit_test_directories_mirror_the_source_tree():
    """tests/unit/<path>/ is a package for an existing source package
    (protection/<pkg>, plugins/<type>, flows, tools), so a module's tests
    are found where the module is; only this file sits at the top."""
    dirs = [d for d in sorted(UNIT.rglob("*"))
            if d.is_dir() and d.name != "__pycache__"]
    wrong = [f"{d.relative_to(ROOT)}: mirrors no source package"
             for d in dirs if not _mirrors_a_source_package(
                 d.relative_to(UNIT))]
    wrong += [f"{d.relative_to(ROOT)}: no __init__.py" for d in dirs
              if not (d / "__init__.py").is_file()]
    top = sorted(p.name for p in UNIT.glob("*.py"))
    assert not wrong
    assert top == ["__init__.py", "test_structure.py"]
