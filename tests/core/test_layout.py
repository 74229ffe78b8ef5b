"""The import-cycle check of `make test` (scripts/check_import_cycles.py) sees every kind of
import and finds cycles; import-linter checks the layer contracts (pyproject.toml)."""

from __future__ import annotations

from scripts.check_import_cycles import import_graph, strongly_connected


def test_the_checker_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_the_graph_holds_local_imports_and_modules_loaded_by_name():
    graph = import_graph()
    assert "riffusion_core.pipeline" in graph["riffusion_core.model"]  # inside load_pipeline
    assert "riffusion_core.cli_generate" in graph["riffusion_core.cli"]  # importlib, by name
    assert "bot.app.client" in graph["bot.__main__"]  # inside run_bot


def test_no_import_cycles_in_bot_cogs_or_riffusion_core():
    assert strongly_connected(import_graph()) == []
