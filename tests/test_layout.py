"""The package layout: no module imports a module that imports it back (directly or through
a chain, counting imports inside functions too), and the dashboard only imports the
pipeline's package faces."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "dashboard")
FACES = {"pipeline", "pipeline.build", "pipeline.catalog", "pipeline.map", "pipeline.recommend",
         "pipeline.playlist", "pipeline.evaluation", "pipeline.config", "pipeline.errors",
         "pipeline.generations"}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` imports explicitly (a ``from X import y`` where ``X.y``
    is a module counts as importing ``X.y``, otherwise ``X``)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                exported = alias.name in _exports(known.get(base))
                found.add(sub if sub in known and not exported else base)
    return {m for m in found if m in known and m != name}


def _exports(path: Path | None) -> set[str]:
    """Names in a package's ``__all__`` (a function may share its module's name, as
    ``pipeline.catalog.preflight`` does: importing the exported name uses the face)."""
    if path is None or path.name != "__init__.py":
        return set()
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__"
                                                  for t in node.targets)):
            return {getattr(e, "value", None) for e in getattr(node.value, "elts", [])}
    return set()


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}   # 1 on the current path, 2 finished
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_real_imports():
    graph = _graph()
    assert "pipeline.build.stages" in graph["pipeline.build.engines.local"]
    assert "pipeline.map" in graph["pipeline.api"]             # a face import
    assert "pipeline.map.neighbors" in graph["pipeline.map.projection"]  # a relative import


def test_cycle_finder_finds_a_planted_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_dashboard_imports_only_package_faces():
    graph = _graph()
    bad = {(m, dep) for m, deps in graph.items() if m.startswith("dashboard")
           for dep in deps if dep.startswith("pipeline") and dep not in FACES}
    assert not bad, f"dashboard modules import pipeline internals: {sorted(bad)}"


def test_every_face_lists_its_public_names():
    import importlib

    for face in sorted(FACES - {"pipeline.config", "pipeline.errors"}):
        module = importlib.import_module(face)
        assert module.__all__, face
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, f"{face}.__all__ names missing attributes: {missing}"
