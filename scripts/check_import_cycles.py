"""Fails when modules of bot/, cogs/ or riffusion_core/ import each other in a circle.

Every import counts: at module level, inside functions and under `if TYPE_CHECKING:`, because
each is still a dependency a reader has to follow both ways, and so do modules loaded by name
(the CLI's subcommands). The graph comes from grimp (the library behind import-linter, which
checks the layer order in `make test`).

    python scripts/check_import_cycles.py        # prints the cycles; exit 1 if there are any
"""

from __future__ import annotations

import sys

import grimp

from riffusion_core.cli import SUBCOMMAND_MODULES

PACKAGES = ("bot", "cogs", "riffusion_core")
# Imports no parser sees: importlib.import_module(name).
LOADED_BY_NAME = {"riffusion_core.cli": set(SUBCOMMAND_MODULES)}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of two or more modules that can reach each other (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for module in graph:
        if module not in index:
            visit(module)
    return groups


def import_graph() -> dict[str, set[str]]:
    """Each module of PACKAGES and the modules of PACKAGES it imports, in any way."""
    imports = grimp.build_graph(*PACKAGES, include_external_packages=False)
    graph = {
        module: {
            imported
            for imported in imports.find_modules_directly_imported_by(module)
            if imported.split(".")[0] in PACKAGES
        }
        for module in imports.modules
        if module.split(".")[0] in PACKAGES
    }
    for module, loaded in LOADED_BY_NAME.items():
        graph[module] |= loaded
    return graph


def main() -> int:
    graph = import_graph()
    cycles = strongly_connected(graph)
    for group in cycles:
        print(f"import cycle ({len(group)} modules): {', '.join(group)}")
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(cycles)} cycles")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
