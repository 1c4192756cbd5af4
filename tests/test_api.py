"""The public API: every module listed below declares `__all__` with exactly its public names, the subpackages
re-export them, and no module of lowdim imports another module's private names."""

import ast
import importlib
import inspect
import pathlib
import re

import numpy as np
import pytest

import lowdim

MODULES = ["lowdim.checks", "lowdim.schedules", "lowdim.metrics",
           "lowdim.representation.curves", "lowdim.representation.dae", "lowdim.representation.ensemble",
           "lowdim.representation.theory", "lowdim.density.formula", "lowdim.density.likelihood",
           "lowdim.density.app_experiments", "lowdim.guidance.samplers", "lowdim.guidance.theorem",
           "lowdim.images.guidance", "lowdim.book.reproduction", "lowdim.book.text"]
PACKAGE = pathlib.Path(lowdim.__file__).parent


def _public_definitions(module) -> set[str]:
    """Functions and classes defined in the module itself, and its UPPER_CASE constants, minus _private ones."""
    tree = ast.parse(inspect.getsource(module))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(t, ast.Name) and re.fullmatch(r"[A-Z][A-Z0-9_]*", t.id):
                    names.add(t.id)
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_exactly_the_public_definitions(name):
    module = importlib.import_module(name)
    assert len(module.__all__) == len(set(module.__all__)), "duplicates in __all__"
    for n in module.__all__:
        assert hasattr(module, n), f"{name}.__all__ names {n}, which is not defined"
    assert _public_definitions(module) - {"DTYPE"} <= set(module.__all__) | {"DTYPE"}


@pytest.mark.parametrize("package, modules", [
    ("lowdim.representation", ["curves", "dae", "ensemble", "theory"]),
    ("lowdim.density", ["formula", "likelihood", "app_experiments"]),
    ("lowdim.guidance", ["samplers", "theorem"]),
])
def test_subpackages_reexport_their_modules(package, modules):
    pkg = importlib.import_module(package)
    for m in modules:
        module = importlib.import_module(f"{package}.{m}")
        for n in module.__all__:
            assert n in pkg.__all__ and getattr(pkg, n) is getattr(module, n), f"{package} does not re-export {m}.{n}"


# Private names still shared by the files of the Gaussian core (gaussians, molrg, labelled, classifier,
# applications), which branch `core` rewrites; everything else must use public names.
CORE_FILES: set[str] = set()  # every module now follows the rules (the core branch is merged)


def _private_imports(path: pathlib.Path) -> list[str]:
    """`from lowdim.x import _name` and `alias._name` where alias is an imported lowdim module or a name imported from
    one (self._x and cls._x are the class's own business)."""
    tree = ast.parse(path.read_text())
    found, lowdim_aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lowdim"):
            for a in node.names:
                lowdim_aliases.add(a.asname or a.name)
                if a.name.startswith("_"):
                    found.append(f"from {node.module} import {a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("lowdim"):
                    lowdim_aliases.add((a.asname or a.name).split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            if isinstance(base, ast.Name) and base.id in lowdim_aliases:
                found.append(f"{base.id}.{node.attr}")
            elif isinstance(base, ast.Attribute) and not (isinstance(base.value, ast.Name) and base.value.id in ("self", "cls")):
                found.append(f"...{base.attr}.{node.attr}")  # a private attribute of some other object
    return found


def test_no_module_uses_another_modules_private_names():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in CORE_FILES:
            continue
        found = _private_imports(path)
        if found:
            offenders[rel] = found
    assert offenders == {}


def test_the_scan_finds_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from lowdim.gaussians import _generator\nfrom lowdim import metrics as M\nM._x\nmodel.guide._classes(1)\n")
    assert _private_imports(bad) == ["from lowdim.gaussians import _generator", "M._x", "...guide._classes"]


def test_log_constants():
    from lowdim.checks import LOG_2PI, LOG_2PI_E
    assert LOG_2PI == pytest.approx(np.log(2 * np.pi), rel=1e-16)
    assert LOG_2PI_E == pytest.approx(1.0 + np.log(2 * np.pi), rel=1e-15)  # log(2 pi e) = 1 + log(2 pi)
    assert LOG_2PI_E - LOG_2PI == pytest.approx(1.0, abs=4e-16)


def test_log_constants_are_not_redefined():
    """One definition of log(2 pi) and log(2 pi e) (in lowdim.checks) outside the core's files."""
    pattern = re.compile(r"^LOG_2PI(_E)?\s*=", re.M)
    defined = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if pattern.search(p.read_text())]
    assert set(defined) - CORE_FILES == {"checks.py"}


def test_integer_parameters_use_check_int():
    """No ad-hoc `isinstance(x, int)` integer checks left outside checks.py and the core's files."""
    left = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
            if re.search(r"isinstance\([^)]*,\s*int\)", p.read_text())]
    assert set(left) - CORE_FILES - {"checks.py"} == set()
