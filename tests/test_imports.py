"""edgeres' import graph, read from the source with ``ast`` (nothing is imported or run).

DESIGN.md: no import cycles between files or between top-level units (``edgeres.X``), and the
device-side rooms never import torch or ``edgeres.train`` at module level. STYLE.md rule 12: no
module imports another module's ``_private`` names, tests included.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE_ROOMS = (
    "edgeres.runtime",
    "edgeres.stream",
    "edgeres.bench",
    "edgeres.tune",
    "edgeres.doctor",
    "edgeres.remote",
    "edgeres.evalreport",
    "edgeres.api",
)
WORKSTATION_ONLY = ("torch", "edgeres.train")


@dataclass(frozen=True)
class Import:
    """One name an import statement binds, with the module it comes from made absolute."""

    importer: str
    module: str
    name: str | None  # ``name`` of ``from module import name``; None for ``import module``
    line: int
    at_import_time: bool  # runs when ``importer`` is imported (anywhere but inside a function)

    @property
    def targets(self) -> tuple[str, ...]:
        """What it may bind: the module, and ``module.name``, which may be a submodule."""
        return (self.module,) if self.name is None else (self.module, f"{self.module}.{self.name}")


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.is_package = module, is_package
        self.imports: list[Import] = []
        self._depth = 0  # function bodies entered

    def _in_function(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _in_function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, None, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:  # relative: from the package, then up one package per extra dot
            package = self.module.split(".")[: None if self.is_package else -1]
            package = package[: len(package) - node.level + 1]
            module = ".".join([*package, module] if module else package)
        for alias in node.names:
            self._add(module, alias.name, node)

    def _add(self, module: str, name: str | None, node: ast.stmt) -> None:
        self.imports.append(Import(self.module, module, name, node.lineno, self._depth == 0))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _collect(folder: str) -> dict[str, list[Import]]:
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        collector = _Collector(_module_name(path), path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        found[collector.module] = collector.imports
    return found


@cache
def edgeres_imports() -> dict[str, list[Import]]:
    """Every module of the package and the imports in it."""
    return _collect("edgeres")


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _related(a: str, b: str) -> bool:
    """A package and a module inside it (a package's ``__init__`` re-exports its modules)."""
    return a.startswith(b + ".") or b.startswith(a + ".")


def module_graph() -> dict[str, dict[str, Import]]:
    """``{importer: {imported module: the first import of it}}`` over edgeres' own modules."""
    modules = edgeres_imports()
    graph: dict[str, dict[str, Import]] = {m: {} for m in modules}
    for importer, imports in modules.items():
        for imp in imports:
            for target in imp.targets:
                if target in modules and target != importer:
                    graph[importer].setdefault(target, imp)
    return graph


def unit_graph() -> dict[str, dict[str, Import]]:
    """The module graph seen from above: ``edgeres.X`` packages and top-level modules."""
    graph: dict[str, dict[str, Import]] = {}
    for importer, targets in module_graph().items():
        edges = graph.setdefault(_unit(importer), {})
        for target, imp in targets.items():
            if _unit(target) != _unit(importer):
                edges.setdefault(_unit(target), imp)
    return graph


def cycles(graph: dict[str, dict[str, Import]]) -> list[frozenset[str]]:
    """The sets of nodes that all reach one another (strongly connected, more than one node)."""
    reach = {}
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        reach[start] = seen
    found = {frozenset(n for n in reach[s] if s in reach[n]) for s in graph if s in reach[s]}
    return sorted(found, key=sorted)


def _describe(cycle: frozenset[str], graph: dict[str, dict[str, Import]]) -> str:
    edges = [
        f"{imp.importer}:{imp.line} imports {target}"
        for node in sorted(cycle)
        for target, imp in sorted(graph[node].items())
        if target in cycle
    ]
    return " <-> ".join(sorted(cycle)) + "".join(f"\n    {e}" for e in edges)


def _new_cycles(graph: dict[str, dict[str, Import]]) -> list[str]:
    return [_describe(c, graph) for c in cycles(graph)]


def test_no_import_cycle_between_modules():
    # Lazy imports inside functions count too: a cycle is a tangle whether or not it deadlocks.
    graph = {
        importer: {t: imp for t, imp in targets.items() if not _related(importer, t)}
        for importer, targets in module_graph().items()
    }
    problems = _new_cycles(graph)
    assert not problems, "import cycles between modules:\n" + "\n".join(problems)


def test_no_import_cycle_between_units():
    problems = _new_cycles(unit_graph())
    assert not problems, "import cycles between edgeres.X units:\n" + "\n".join(problems)


def _under(dotted: str, names: tuple[str, ...]) -> bool:
    return any(dotted == n or dotted.startswith(n + ".") for n in names)


def _imports_any(imp: Import, names: tuple[str, ...]) -> bool:
    return any(_under(t, names) for t in imp.targets)


def test_device_rooms_import_neither_torch_nor_train_at_module_level():
    problems = [
        f"{imp.importer}:{imp.line} imports {imp.targets[-1]} at module level (import it lazily)"
        for module, imports in edgeres_imports().items()
        if _under(module, DEVICE_ROOMS)
        for imp in imports
        if imp.at_import_time and _imports_any(imp, WORKSTATION_ONLY)
    ]
    assert not problems, "\n".join(problems)


def _private(dotted: str) -> bool:
    return any(p.startswith("_") and not p.endswith("__") for p in dotted.split("."))


def test_no_module_imports_another_modules_private_names():
    problems = []
    for folder in ("edgeres", "tests", "tools"):
        for importer, imports in _collect(folder).items():
            for imp in imports:
                target = imp.targets[-1]
                if (
                    _imports_any(imp, ("edgeres",))
                    and imp.module != importer
                    and _private(target.removeprefix("edgeres."))
                ):
                    problems.append(f"{importer}:{imp.line} imports {target}")
    assert not problems, "private names imported from another module:\n" + "\n".join(problems)


def test_the_checks_see_what_they_look_for():
    """The collector finds lazy, relative and private imports (so a pass means something)."""
    collector = _Collector("edgeres.stream.x", is_package=False)
    source = (
        "from . import sources\nfrom ..data.shapes import _P\n"
        "def f():\n    import torch\nif True:\n    from edgeres.train import loop\n"
    )
    collector.visit(ast.parse(source))
    got = [(i.module, i.name, i.at_import_time) for i in collector.imports]
    assert got == [
        ("edgeres.stream", "sources", True),
        ("edgeres.data.shapes", "_P", True),
        ("torch", None, False),
        ("edgeres.train", "loop", True),
    ]
    graph = {"a": {"b": None}, "b": {"c": None}, "c": {"a": None}, "d": {"a": None}}
    assert cycles(graph) == [frozenset("abc")]
