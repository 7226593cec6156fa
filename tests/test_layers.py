"""The import structure of ``src/kvstore``: no import circles, and the layers in order.

Every module is parsed (nothing is imported), and every import counts: at the top, inside a
function, and under ``if TYPE_CHECKING:``, since a circle closed by a type-only import is still
two modules that cannot be understood one without the other.

The layers, top to bottom (README.md, "How it is built"): ``cli`` -> ``client`` -> ``server``
-> ``replication`` and ``cluster`` (side by side) -> ``persistence`` -> ``commands`` ->
``protocol`` -> ``keyspace``, with ``eviction`` (the keyspace that can evict, and the
memory guard) between the commands and the keyspace, and ``config`` (the configuration
dataclass and its helpers) beside ``protocol``, and ``build`` (which build runs) and
``slots`` (key slots) beneath them all.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = "kvstore"

#: A module may import its own layer and those with a smaller rank.
RANKS = {
    "cli": 9,
    "client": 8,
    "server": 7,
    "replication": 6,
    "cluster": 6,  # the topology and its sources (docs/cluster.md), beside replication
    "persistence": 5,
    "commands": 4,
    "eviction": 3,
    "config": 2,
    "protocol": 2,
    "keyspace": 1,
    "build": 0,  # which build runs (docs/builds.md): standard library only, beneath them all
    "slots": 0,  # key slots (CRC16): the server's and the client library's, standard library only
}
#: Layers that stand on the protocol alone, beside the server's stack, not above it.
NEVER = {
    "client": {"server", "replication", "cluster", "persistence", "commands"},
    "cli": {"server", "replication", "cluster", "persistence", "commands"},
}


def module_names(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its own name)."""
    names: dict[str, Path] = {}
    for path in sorted((src / ROOT).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, str]]:
    """(imported module, names taken) for each import in ``module``'s file, wherever it is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in known:
                    yield submodule, alias.name
                elif source in known:
                    yield source, alias.name


def import_graph(src: Path = SRC) -> dict[str, dict[str, set[str]]]:
    """module -> imported module -> the names it takes from it (modules of the package only)."""
    known = module_names(src)
    graph: dict[str, dict[str, set[str]]] = {name: {} for name in known}
    for module, path in known.items():
        for target, name in _imported(module, path, known):
            if target != module:
                graph[module].setdefault(target, set()).add(name)
    return graph


def circles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(component: list[str], graph: dict[str, dict[str, set[str]]]) -> str:
    """One circle: each import inside it, with the names it takes."""
    members = set(component)
    lines = [f"circle of {len(component)} modules:"]
    for module in component:
        for target, names in sorted(graph[module].items()):
            if target in members:
                lines.append(f"  {module} -> {target}: {', '.join(sorted(names))}")
    return "\n".join(lines)


def layer(module: str) -> str | None:
    """The layer a module belongs to; None for the package's face (``kvstore/__init__.py``)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    name = parts[1]
    if name.startswith("config"):
        return "config"
    if name.startswith("keyspace"):
        return "keyspace"
    return name


def test_there_is_no_import_circle() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the package was found and read
    found = circles(graph)
    assert not found, "\n".join(describe(component, graph) for component in found)


def test_every_module_has_a_layer() -> None:
    for module in import_graph():
        assert module == ROOT or layer(module) in RANKS, f"{module}: no layer in RANKS"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, targets in import_graph().items():
        here = layer(module)
        if here is None:
            continue
        for target, names in targets.items():
            there = layer(target)
            if there is None:  # the package's face: only the version, nothing above
                if names != {"__version__"}:
                    wrong.append(f"{module} takes {sorted(names)} from {target}")
            elif there != here and (RANKS[there] >= RANKS[here] or there in NEVER.get(here, set())):
                wrong.append(f"{module} ({here}) imports {target} ({there})")
    assert not wrong, "\n".join(wrong)


def test_the_checks_see_type_only_and_local_imports(tmp_path: Path) -> None:
    package = tmp_path / ROOT
    (package / "server").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "server" / "__init__.py").write_text("")
    (package / "server" / "app.py").write_text("from kvstore.server.connection import Connection\n")
    (package / "server" / "connection.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from kvstore.server.app import Server\n"
        "def later() -> None:\n"
        "    from . import control\n"
    )
    (package / "server" / "control.py").write_text("import kvstore.server.app\n")
    graph = import_graph(tmp_path)
    assert graph["kvstore.server.connection"] == {
        "kvstore.server.app": {"Server"},
        "kvstore.server.control": {"control"},
    }
    assert circles(graph) == [
        ["kvstore.server.app", "kvstore.server.connection", "kvstore.server.control"]
    ]
