"""The package's shape: no import cycles, small modules, short signatures."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "csv_import_daemon"
NAME = "csv_import_daemon"
MAX_LINES = 400
MAX_PARAMETERS = 7


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join((NAME, *parts)).removesuffix(".__init__")] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Package modules ``path`` imports: at the top, lazily inside a function, and under
    ``if TYPE_CHECKING:`` alike (a cycle hidden from the interpreter is still one to a
    reader, and the first import moved out of that block makes it a real one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(NAME):
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found & set(modules)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module] - {module}):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    """No module imports, directly or not, one that imports it back (lazy and
    ``TYPE_CHECKING`` imports count)."""
    modules = _modules()
    graph = {m: _imports(p, modules) for m, p in modules.items()}
    assert _cycle(graph) is None


def test_typing_only_and_lazy_imports_count(tmp_path: Path) -> None:
    """An import under ``if TYPE_CHECKING:`` or inside a function is an edge of the graph."""
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        f"    from {NAME}.errors import ConfigError\n"
        "def f():\n"
        f"    from {NAME}.logs import get_logger\n",
        encoding="utf-8",
    )
    found = _imports(module, _modules())
    assert {f"{NAME}.errors", f"{NAME}.logs"} <= found


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module loop is reported."""
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_no_module_is_over_400_lines() -> None:
    """Split before a module grows past 400 lines."""
    long = {
        p.name: n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_function_takes_more_than_seven_parameters() -> None:
    """A function needing more takes a small frozen dataclass instead (self and cls aside)."""
    wide = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
                count = len([n for n in names if n not in ("self", "cls")])
                if count > MAX_PARAMETERS:
                    wide.append(f"{path.name}:{node.lineno} ({count})")
    assert wide == []


def test_the_benchmarks_are_not_in_the_package() -> None:
    """The benchmark lives in benchmarks/, beside the tests, not in the installed package."""
    assert not [p for p in PACKAGE.rglob("*.py") if "bench" in p.name]
    assert (PACKAGE.parent.parent / "benchmarks" / "bench.py").is_file()
