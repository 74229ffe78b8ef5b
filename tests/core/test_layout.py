"""riffusion_core's floor plan: no import cycles (function-local and TYPE_CHECKING imports
included), never Discord or the bot, and the conversion and audio layers pointing one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from riffusion_core.cli import SUBCOMMAND_MODULES

PACKAGE = "riffusion_core"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imported(name: str) -> set[str]:
    """Every module `name` imports anywhere in its source (top level, functions, TYPE_CHECKING)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from riffusion_core import audio` imports the submodule riffusion_core.audio
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
    return found


def internal_graph() -> dict[str, set[str]]:
    graph = {name: {m for m in imported(name) if m in MODULES} - {name} for name in MODULES}
    graph[f"{PACKAGE}.cli"] |= set(SUBCOMMAND_MODULES)  # loaded by name through importlib
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_sees_local_imports_and_finds_cycles():
    assert f"{PACKAGE}.pipeline" in imported(f"{PACKAGE}.model")  # imported inside load_pipeline
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_inside_riffusion_core():
    assert find_cycle(internal_graph()) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_never_imports_discord_or_the_bot(name):
    roots = {m.split(".")[0] for m in imported(name)}
    assert not roots & {"discord", "bot", "cogs"}


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("phase", "spectrogram"),  # spectrogram -> phase -> stft, inverse_mel, banded
        ("inverse_mel", "phase"),
        ("inverse_mel", "spectrogram"),
        ("stft", "phase"),
        ("image", "converter"),  # converter is the facade over image and spectrogram
        ("spectrogram", "converter"),
        ("audio", "audio_decode"),  # encoding and editing never reach the upload decoder
        ("pipeline", "converter"),  # the pipeline returns images; audio is the caller's
        ("pipeline", "audio"),
        ("pipeline", "clips"),
        ("pipeline", "tracks"),
        ("cli_convert", "cli"),
        ("cli_generate", "cli"),
    ],
)
def test_lower_layers_do_not_import_higher_ones(low, high):
    graph = internal_graph()
    reachable, todo = set(), [f"{PACKAGE}.{low}"]
    while todo:
        for nxt in graph[todo.pop()] - reachable:
            reachable.add(nxt)
            todo.append(nxt)
    assert f"{PACKAGE}.{high}" not in reachable
