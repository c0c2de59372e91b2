"""The import graph is part of the design (docs/architecture.md, "Apps and the direction of
dependencies"): no cycles between modules, also not through imports inside functions, no arrow
against the flow, and no module using another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("realtime", "chat", "retention", "dsr", "agents", "feedback", "helao_chat")

#: package -> the packages it must never import. The layers, bottom up: `realtime` (sockets,
#: events, the hot write path) knows no app; `chat` (the register and the conversation) knows
#: only `realtime`; `retention` (the purge) knows `chat`; `dsr` (data-subject requests) knows
#: `retention` (erasures leave tombstones); `agents` and `feedback` plug into `chat` and know
#: neither each other nor `retention`/`dsr`; nothing imports the project (`helao_chat`).
FORBIDDEN = {
    "realtime": {"chat", "retention", "dsr", "agents", "feedback", "helao_chat"},
    "chat": {"retention", "dsr", "agents", "feedback", "helao_chat"},
    "retention": {"dsr", "agents", "feedback", "helao_chat"},
    "dsr": {"agents", "feedback", "helao_chat"},
    "agents": {"retention", "dsr", "feedback", "helao_chat"},
    "feedback": {"retention", "dsr", "agents", "helao_chat"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module `name` is, or is inside of (a name imported from a module)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every import anywhere in the file."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "", node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from pkg import mod` imports a module; `from mod import name` a name.
                if f"{base}.{alias.name}" in MODULES:
                    found.append((f"{base}.{alias.name}", "", node.lineno))
                else:
                    found.append((base, alias.name, node.lineno))
    return found


def _graph() -> dict[str, dict[str, int]]:
    graph: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        edges = graph.setdefault(module, {})
        for imported, _name, line in _imports(module, path):
            target = _resolve(imported)
            if target is not None and target != module:
                edges.setdefault(target, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_walker_sees_imports_inside_functions_and_relative_ones():
    edges = _graph()["chat.consumers"]
    assert "chat.services" in edges  # `from . import ... services`
    assert "realtime.sockets" in edges  # `from realtime.sockets import ...`
    assert "realtime.admission" in _graph()["realtime.sockets"]  # `from . import admission`
    assert "chat.hooks" in _graph()["agents.services"]  # only inside functions


def test_no_module_imports_itself_back_through_others():
    cycles = _cycles(_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_dependencies_flow_one_way(app):
    wrong = [
        f"{module}:{line} imports {target}"
        for module, edges in _graph().items()
        if module.split(".")[0] == app
        for target, line in edges.items()
        if target.split(".")[0] in FORBIDDEN[app]
    ]
    assert wrong == []


def test_no_module_uses_another_modules_private_names():
    wrong = []
    for module, path in MODULES.items():
        for imported, name, line in _imports(module, path):
            target = _resolve(imported)
            private = name.startswith("_") and not name.startswith("__")
            if target is not None and target != module and private:
                wrong.append(f"{module}:{line} imports {name} from {target}")
    assert wrong == []


def test_every_package_has_a_rule_and_every_rule_a_package():
    assert set(FORBIDDEN) | {"helao_chat"} == set(PACKAGES)
    assert all((ROOT / package / "__init__.py").exists() for package in PACKAGES)


def test_the_realtime_layer_is_used_through_its_public_modules_only():
    import realtime

    public = {f"realtime.{name}" for name in realtime.PUBLIC}
    assert public <= set(MODULES), "PUBLIC names a module that does not exist"
    wrong = [
        f"{module}:{line} imports {target}"
        for module, edges in _graph().items()
        if module.split(".")[0] != "realtime"
        for target, line in edges.items()
        if target.split(".")[0] == "realtime" and target != "realtime" and target not in public
    ]
    assert wrong == []
