"""The house rules of DESIGN.md, checked on the source itself so that they stay true.

- no import cycle among the modules of ``src/seglab`` (imports inside functions count too);
- no library module imports a face (``seglab.cli``, ``seglab.commands``, ``seglab.web``);
- classical code is NumPy only: importing ``seglab.classical`` does not import torch;
- no function longer than 120 lines of code (its docstring not counted);
- at most 12 modules loose at the package root;
- the README's "Layout" names every package and root module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seglab"
README = PACKAGE.parents[1] / "README.md"
FACES = ("seglab.cli", "seglab.commands", "seglab.web", "seglab.__main__")
MAX_FUNCTION_LINES = 120
MAX_ROOT_MODULES = 12


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


MODULES = _module_names()


def _imports(name: str, path: Path) -> set[str]:
    """The seglab modules that ``name`` imports anywhere in its code.

    ``from package import module`` is an edge to the module, not to the package: importing a
    submodule does not depend on what the package's ``__init__`` defines.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack, stack, found = set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_library_modules_never_import_a_face():
    offenders = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if not name.startswith(FACES)
        for target in targets
        if target.startswith(FACES)
    ]
    assert offenders == []


def test_classical_code_does_not_import_torch():
    code = "import sys, seglab.classical; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "False", result.stderr
    static = [
        name
        for name, path in MODULES.items()
        if name.startswith("seglab.classical")
        and "torch" in {alias.split(".")[0] for alias in _external_imports(path)}
    ]
    assert static == []


def _external_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant):
        if isinstance(first.value.value, str):
            lines -= first.end_lineno - first.lineno + 1
    return lines


def test_no_function_is_longer_than_120_lines_of_code():
    long = [
        f"{path.relative_to(PACKAGE)}:{node.name} ({_code_lines(node)} lines)"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _code_lines(node) > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_few_modules_loose_at_the_package_root():
    loose = sorted(path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
    assert len(loose) <= MAX_ROOT_MODULES, loose


@pytest.fixture(scope="module")
def layout() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Layout")
    return text[start : text.index("\n## ", start + 1) if "\n## " in text[start + 1 :] else None]


def test_the_readme_layout_names_every_package_and_root_module(layout):
    packages = sorted(path.parent.name for path in PACKAGE.glob("*/__init__.py"))
    roots = sorted(path.name for path in PACKAGE.glob("*.py") if path.name not in ("__init__.py",))
    missing = [f"{name}/" for name in packages if f"{name}/" not in layout]
    missing += [name for name in roots if name not in layout]
    assert missing == []
