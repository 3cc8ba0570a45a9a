"""The layer rule of docs/architecture.md, read from the code's own imports (an ``ast`` walk).

Each feature package sits in a layer and imports only from its own layer or below; the graph of
feature packages has no cycle (no two features import each other, directly or through others);
imports sit at the top of a module (a function-local import of the app's own code only ever hid a
cycle), except in the composition root that assembles the app; production code never imports the
development tools, the tests or the benchmarks; and no module of the app or the benchmarks is much
over 400 lines. The planted-violation tests at the bottom show that each rule can fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# docs/architecture.md draws the same table; a package missing here fails the suite.
LAYERS: dict[str, int] = {
    # 1. core: plumbing every feature uses
    "core": 1,
    "config": 1,
    "extensions": 1,
    # 2. foundation features
    "orgs": 2,
    "accounts": 2,
    "profiles": 2,
    "auth": 2,
    "mfa": 2,
    "staff": 2,
    "audit": 2,
    "symptoms": 2,
    "jobs": 2,
    "site": 2,
    "health": 2,
    # 3. records
    "patients": 3,
    "appointments": 3,
    # 4. work built on records
    "intake": 4,
    "consultations": 4,
    "reports": 4,
    "figures": 4,
    "sync": 4,
    "engagement": 4,
    "health_data": 4,
    "billing": 4,
    "webhooks": 4,
    # 5. read models and pages that combine features
    "dashboard": 5,
    "caseload": 5,
    "chart": 5,
    "fhir": 5,
    "operators": 5,
}
LAYER_NAMES = {1: "core", 2: "foundation", 3: "records", 4: "work on records", 5: "read models and pages"}
# The composition root builds the app from every feature: it may import anything, lazily too.
ROOT_MODULES = {"clinic_app", "clinic_app.cli", "clinic_app.worker"}
NOT_PRODUCTION = ("devtools", "tests", "bench")
MAX_LINES = 420  # "about 400"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or module.name for "from module import name")
    line: int
    local: bool  # inside a function body


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, is_package: bool) -> list[Import]:
    tree = ast.parse(source)
    found: list[Import] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend(Import(module, alias.name, child.lineno, inside) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                found.append(Import(module, target, child.lineno, inside))
                found.extend(Import(module, f"{target}.{alias.name}", child.lineno, inside) for alias in child.names)
            elif isinstance(child, ast.Call) and _names_import_module(child.func):
                for argument in child.args[:1]:
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                        found.append(Import(module, argument.value, child.lineno, True))
            visit(child, inside)

    visit(tree, False)
    return found


def _names_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    )


ROOT_PACKAGE = "<composition root>"


def package_of(module: str, known: set[str]) -> str | None:
    """The feature package (or core part) ``module`` belongs to: None outside the app, the
    composition root for it and for a name taken from ``clinic_app`` itself (``create_app``)."""
    parts = module.split(".")
    if parts[0] != "clinic_app":
        return None
    if module in ROOT_MODULES or len(parts) < 2 or parts[1] not in known:
        return ROOT_PACKAGE
    return parts[1]


def violations(sources: Mapping[str, str]) -> list[str]:
    """Every breach of the layer rule in ``sources`` (relative path -> text of the module)."""
    problems: list[str] = []
    imports: list[Import] = []
    modules = {
        module_name(Path(relative), Path()): relative for relative in sources if relative.startswith("clinic_app/")
    }
    known = {module.split(".")[1] for module in modules if "." in module}
    for module, relative in sorted(modules.items()):
        path = Path(relative)
        imports.extend(imports_of(module, sources[relative], is_package=path.name == "__init__.py"))
        package = package_of(module, known)
        if package not in (None, ROOT_PACKAGE) and package not in LAYERS:
            problems.append(f"{relative}: package {package!r} has no layer (add it to LAYERS and docs/architecture.md)")

    edges: dict[str, set[str]] = {}
    for item in imports:
        top = item.target.split(".")[0]
        if top in NOT_PRODUCTION:
            problems.append(f"{item.module}:{item.line} imports {item.target}: production never imports {top}")
            continue
        source, target = package_of(item.module, known), package_of(item.target, known)
        if target is None or source == ROOT_PACKAGE:
            continue
        if item.local:
            problems.append(f"{item.module}:{item.line} imports {item.target} inside a function")
        if target == ROOT_PACKAGE:
            problems.append(f"{item.module}:{item.line} imports the composition root ({item.target})")
            continue
        if source == target or source not in LAYERS or target not in LAYERS:
            continue
        if LAYERS[target] > LAYERS[source]:
            problems.append(
                f"{item.module}:{item.line} imports {item.target}: {source} ({LAYER_NAMES[LAYERS[source]]}) "
                f"may not import {target} ({LAYER_NAMES[LAYERS[target]]})"
            )
        if LAYERS[source] > 1:  # core's parts (core, config, extensions) are one layer of plumbing
            edges.setdefault(source, set()).add(target)
    problems.extend(f"features import each other in a circle: {' -> '.join(cycle)}" for cycle in cycles(edges))
    return problems


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle for each strongly connected group of two or more nodes (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def strongconnect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                strongconnect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(_one_cycle(sorted(group), edges))

    for node in sorted(edges):
        if node not in index:
            strongconnect(node)
    return groups


def _one_cycle(group: list[str], edges: Mapping[str, Iterable[str]]) -> list[str]:
    """A path from the group's first member back to itself, inside the group."""
    members = set(group)
    start = group[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for successor in sorted(edges.get(node, ())):
            if successor == start:
                return [*paths[node], start]
            if successor in members and successor not in paths:
                paths[successor] = [*paths[node], successor]
                frontier.append(successor)
    return group


def tree_sources(*folders: str) -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for folder in folders
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    return tree_sources("clinic_app")


def test_every_module_keeps_the_layer_rule(sources: dict[str, str]) -> None:
    assert violations(sources) == []


def test_every_feature_package_is_placed_in_a_layer_and_the_map_names_it() -> None:
    packages = {path.parent.name for path in (ROOT / "clinic_app").glob("*/__init__.py")}
    assert packages <= set(LAYERS), f"packages without a layer: {sorted(packages - set(LAYERS))}"
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert [name for name in sorted(packages) if f"`{name}`" not in architecture] == []


def test_no_module_of_the_app_or_the_benchmarks_is_much_over_400_lines() -> None:
    long = {
        relative: text.count("\n")
        for relative, text in tree_sources("clinic_app", "bench").items()
        if text.count("\n") > MAX_LINES
    }
    assert long == {}


def test_the_benchmark_modules_import_each_other_without_a_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for relative, text in tree_sources("bench").items():
        path = Path(relative)
        module = module_name(path, Path())
        for item in imports_of(module, text, is_package=path.name == "__init__.py"):
            if item.target.startswith("bench.") and not item.local:
                target = ".".join(item.target.split(".")[:2])
                if target != module and (ROOT / Path(*target.split("."))).with_suffix(".py").exists():
                    edges.setdefault(module, set()).add(target)
    assert cycles(edges) == []


# --- each rule can fail: a planted breach is found --------------------------------------------------


def planted(sources: dict[str, str], path: str, text: str) -> list[str]:
    return violations({**sources, path: text})


def test_a_planted_upward_import_is_found(sources: dict[str, str]) -> None:
    found = planted(sources, "clinic_app/patients/planted.py", "from clinic_app.dashboard import service\n")
    assert any("clinic_app.patients.planted:1 imports clinic_app.dashboard" in problem for problem in found)
    assert any("patients (records) may not import dashboard (read models and pages)" in p for p in found)


def test_a_planted_import_of_a_feature_by_core_is_found(sources: dict[str, str]) -> None:
    found = planted(sources, "clinic_app/core/planted.py", "from clinic_app.orgs.models import Organization\n")
    assert any("core (core) may not import orgs (foundation)" in problem for problem in found)


def test_two_features_of_one_layer_importing_each_other_are_found() -> None:
    tree = {
        "clinic_app/__init__.py": "",
        "clinic_app/intake/__init__.py": "",
        "clinic_app/intake/models.py": "from clinic_app.consultations import models\n",
        "clinic_app/consultations/__init__.py": "",
        "clinic_app/consultations/models.py": "",
    }
    assert violations(tree) == []
    found = planted(tree, "clinic_app/consultations/planted.py", "import clinic_app.intake.models\n")
    assert found == ["features import each other in a circle: consultations -> intake -> consultations"]


def test_a_planted_function_local_import_is_found(sources: dict[str, str]) -> None:
    text = "def later():\n    from clinic_app.patients import service\n    return service\n"
    found = planted(sources, "clinic_app/reports/planted.py", text)
    assert "clinic_app.reports.planted:2 imports clinic_app.patients inside a function" in found


def test_a_planted_import_module_call_is_found(sources: dict[str, str]) -> None:
    text = "import importlib\nservice = importlib.import_module('clinic_app.dashboard.service')\n"
    found = planted(sources, "clinic_app/appointments/planted.py", text)
    assert any("appointments (records) may not import dashboard" in problem for problem in found)


def test_a_planted_import_of_the_development_tools_is_found(sources: dict[str, str]) -> None:
    found = planted(sources, "clinic_app/sync/planted.py", "from devtools.sandbox import SandboxClinic\n")
    assert any("production never imports devtools" in problem for problem in found)


def test_a_planted_package_without_a_layer_is_found(sources: dict[str, str]) -> None:
    found = planted(sources, "clinic_app/planted_feature/__init__.py", "")
    assert any("package 'planted_feature' has no layer" in problem for problem in found)


def test_a_planted_import_of_the_app_factory_is_found(sources: dict[str, str]) -> None:
    found = planted(sources, "clinic_app/core/planted.py", "from clinic_app import create_app\n")
    assert "clinic_app.core.planted:1 imports the composition root (clinic_app.create_app)" in found


def test_a_relative_import_is_read_as_the_module_it_names() -> None:
    found = imports_of("clinic_app.patients.views", "from ..dashboard import service\n", is_package=False)
    assert [item.target for item in found] == ["clinic_app.dashboard", "clinic_app.dashboard.service"]
