"""The shape of the command line: one module per subcommand, a light `import seglab.cli`,
short functions, and no library module that depends on the command line."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import seglab
from seglab.cli import build_parser
from seglab.commands import COMMANDS

SRC = Path(seglab.__file__).parent
CLI_FILES = [SRC / "cli.py", *sorted((SRC / "commands").glob("*.py"))]
MAX_FUNCTION_LINES = 120


def test_every_command_module_adds_its_parser_and_runs():
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    # Module train_instance is the command train-instance.
    names = [module.__name__.rsplit(".", 1)[1].replace("_", "-") for module in COMMANDS]
    assert list(subparsers.choices) == names  # help lists them in COMMANDS order
    for name, module in zip(names, COMMANDS, strict=True):
        assert subparsers.choices[name].get_default("handler") is module.run


def test_the_parser_imports_no_heavy_module():
    # `seglab --help` builds every subcommand's flags; torch or OpenCV would make it slow.
    code = (
        "import sys, seglab.cli\n"
        "seglab.cli.build_parser().parse_args(['predict', 'x', '--out', 'y'])\n"
        "print(sorted(m for m in ('torch', 'cv2', 'skimage') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("path", CLI_FILES, ids=lambda path: path.name)
def test_functions_are_short(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            assert lines <= MAX_FUNCTION_LINES, f"{path.name}: {node.name} has {lines} lines"


def test_no_library_module_imports_the_command_line():
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC)
        if relative.parts[0] in ("cli.py", "__main__.py", "commands"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                assert not name.startswith(("seglab.cli", "seglab.commands")), relative
