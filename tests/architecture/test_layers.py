"""The import contract: code reads top to bottom in the order a study flows.

A lower layer never imports a higher one, at module level or inside a function (the ``ast``
walk below sees both). Where a lower layer must cause work above it, it publishes to
``readingcenter.hooks`` and the higher app subscribes. ``triage.core`` and ``simulator`` need no
Django and import nothing of the project above them. No two modules import each other, even
through a chain.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("readingcenter", "triage", "simulator")

# Bottom to top. An app may import its own modules and any app of a strictly lower layer; apps
# of one layer are peers and do not import each other, except in the ground layer, whose parts
# (errors, the database helpers, accounts, hospitals, audit) use one another freely: only
# cycles are refused there, by the last test.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "ground",
        (
            "readingcenter.errors",
            "readingcenter.db",
            "readingcenter.env",
            "readingcenter.hooks",
            "readingcenter.api",
            "readingcenter.ws_auth",
            "readingcenter.accounts",
            "readingcenter.hospitals",
            "readingcenter.audit",
            "readingcenter.notifications",
        ),
    ),
    ("pacs", ("readingcenter.pacs",)),
    ("studies", ("readingcenter.studies",)),
    ("hl7 intake", ("readingcenter.hl7intake",)),
    ("priors", ("readingcenter.priors",)),
    ("triage", ("triage",)),
    ("worklist", ("readingcenter.worklist", "readingcenter.viewer")),
    ("reports", ("readingcenter.reports",)),
    (
        "delivery / critical",
        (
            "readingcenter.delivery",
            "readingcenter.critical",
            "readingcenter.followups",
            "readingcenter.quality",
        ),
    ),
    ("sla", ("readingcenter.sla",)),
    ("read-only", ("readingcenter.ops", "readingcenter.analytics", "readingcenter.portal")),
    (
        "entry points",
        (
            "readingcenter.urls",
            "readingcenter.asgi",
            "readingcenter.demo",
            "readingcenter.settings",
        ),
    ),
]
# Django-free packages: what they may import of the project.
DJANGO_FREE = {"triage.core": ("triage.core", "simulator"), "simulator": ("simulator",)}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every module ``module`` imports, wherever the import statement stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((name, node.lineno))
            # ``from readingcenter.reports import selectors`` imports a module too.
            found += [(f"{name}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _owner(module: str, table) -> tuple[int, str] | None:
    best = None
    for rank, (_, prefixes) in enumerate(table):
        for prefix in prefixes:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > len(best[1])):
                best = (rank, prefix)
    return best


def _project_edges():
    modules = _modules()
    edges = []
    for module, path in modules.items():
        for target, line in _imports(module, path):
            if target.split(".")[0] in PACKAGES:
                edges.append((module, target, line))
    return modules, edges


def test_no_layer_imports_a_higher_one():
    _, edges = _project_edges()
    wrong = set()
    for source, target, line in edges:
        mine, theirs = _owner(source, LAYERS), _owner(target, LAYERS)
        if mine is None or theirs is None or mine[1] == theirs[1]:
            continue
        if theirs[0] > mine[0] or (theirs[0] == mine[0] and mine[0] != 0):
            wrong.add(
                f"{source}:{line} ({LAYERS[mine[0]][0]}) imports {target} ({LAYERS[theirs[0]][0]})"
            )
    assert not wrong, "imports against the flow:\n" + "\n".join(sorted(wrong))


def test_every_module_belongs_to_a_layer():
    modules = _modules()
    orphans = [
        m
        for m in modules
        if _owner(m, LAYERS) is None
        and m not in ("readingcenter", "simulator")
        and not any(m == p or m.startswith(p + ".") for p in DJANGO_FREE)
    ]
    assert not orphans, f"modules no layer owns (add them to LAYERS): {orphans}"


def test_django_free_packages_import_no_django_and_nothing_above_them():
    modules = _modules()
    wrong = []
    for module, path in modules.items():
        for package, allowed in DJANGO_FREE.items():
            if not (module == package or module.startswith(package + ".")):
                continue
            for target, line in _imports(module, path):
                top = target.split(".")[0]
                framework = top in ("django", "rest_framework", "channels", "procrastinate")
                above = top in PACKAGES and not any(
                    target == a or target.startswith(a + ".") for a in allowed
                )
                if framework or above:
                    wrong.append(f"{module}:{line} imports {target}")
    assert not wrong, "Django-free code that is not:\n" + "\n".join(wrong)


def test_no_import_cycles():
    modules, edges = _project_edges()
    graph = defaultdict(set)
    for source, target, _ in edges:
        # ``from a.b import c`` names a module a.b.c only when there is one.
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != source and modules[target].name != "__init__.py":
            graph[source].add(target)
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(modules):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
