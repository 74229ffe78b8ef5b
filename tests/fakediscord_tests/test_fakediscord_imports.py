"""tests/fakediscord is Discord's side of the wire: it must not know the bot it is testing.

Every module is parsed (not imported), so imports inside functions, under `if TYPE_CHECKING:` and
relative imports climbing out of the package are all seen, as are `importlib.import_module` and
`__import__` calls with a literal name. Other `tests.*` modules are refused too: the fixtures
(tests/fixtures/bot.py) import the bot, so reaching them would bring it in by the back door.
"""

from __future__ import annotations

import ast
from pathlib import Path

FAKE_DIR = Path(__file__).resolve().parents[1] / "fakediscord"
PACKAGE = "tests.fakediscord"
FORBIDDEN = {"bot", "cogs", "riffusion_core"}


def module_name(path: Path) -> str:
    parts = path.relative_to(FAKE_DIR).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def imported_names(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level - 1 >= len(base):  # climbs out of the top-level package
                    dots = "." * node.level
                    names += [
                        (node.lineno, dots + ".".join(filter(None, [node.module, alias.name])))
                        for alias in node.names
                    ]
                    continue
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            names.append((node.lineno, name))
            # `from tests import fixtures` names a module in the imported names, not the module.
            names += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (
                    isinstance(node.func, ast.Name)
                    and node.func.id in {"__import__", "import_module"}
                )
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            names.append((node.lineno, node.args[0].value))
    return names


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """One line per offending import statement, naming the first forbidden module it reaches."""
    found: dict[int, str] = {}
    for line, name in sorted(imported_names(source, module, is_package=is_package)):
        top = name.split(".")[0]
        outside_the_fake = top == "tests" and not (
            name == "tests" or name == PACKAGE or name.startswith(PACKAGE + ".")
        )
        if top in FORBIDDEN or outside_the_fake or name.startswith("."):
            found.setdefault(line, f"{module}:{line} imports {name}")
    return list(found.values())


def test_fakediscord_imports_nothing_from_the_bot():
    modules = sorted(FAKE_DIR.rglob("*.py"))
    assert len(modules) >= 5, f"no fake Discord modules found in {FAKE_DIR}"
    found, seen = [], set()
    for path in modules:
        source = path.read_text(encoding="utf-8")
        name, is_package = module_name(path), path.name == "__init__.py"
        seen |= {n for _, n in imported_names(source, name, is_package=is_package)}
        found += violations(source, name, is_package=is_package)
    assert not found, "tests/fakediscord must not depend on the bot:\n" + "\n".join(found)
    # The walk did see the fake's real imports (a broken walk would pass vacuously).
    assert {"discord", "aiohttp", "tests.fakediscord.server"} <= seen


def test_the_import_check_sees_nested_relative_and_dynamic_imports():
    source = """
from typing import TYPE_CHECKING
from .models import Message
if TYPE_CHECKING:
    from cogs.info import human_bytes
def later():
    import riffusion_core.audio
    from ... import bot
    from ..fixtures import bot as harness
    return __import__("bot.config")
class Late:
    def go(self):
        import importlib
        return importlib.import_module("bot.app")
"""
    found = violations(source, "tests.fakediscord.server")
    assert [f.split(" imports ")[1] for f in found] == [
        "cogs.info",
        "riffusion_core.audio",
        "...bot",  # climbs out of the top-level package
        "tests.fixtures",
        "bot.config",
        "bot.app",
    ], found
