"""One-way layering, checked on the import statements of the package's modules (static: imports inside functions
count too): the plugin never imports the checkout's ``preprocess``, only command lines import command lines, the
``preprocess`` shims only run a command line, and SystemExit is raised only at the command lines' boundary."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import REPO

# Where SystemExit may be raised: the command lines' main() functions and their error boundary, and the fairseq
# patch that ends a finished training run inside fairseq's own process; the hook that ends fairseq-generate on one of
# the plugin's errors in one line, and the guard that ends a failed trainer process in one line.
SYSTEM_EXIT_ALLOWED = {
    ("avhubert_ami/checkpoints/fairseq_patches.py", "load_checkpoint"),
    ("avhubert_ami/checkpoints/fairseq_patches.py", "hook"),
    ("avhubert_ami/training/trainer_processes.py", "guarded"),
}


def _py_files(*folders: str):
    for folder in folders:
        yield from sorted((REPO / folder).rglob("*.py"))


def _imported_modules(tree: ast.AST):
    for node in ast.walk(tree):  # module level and inside functions alike
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_the_plugin_never_imports_preprocess():
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for path in _py_files("avhubert_ami")
        for name in _imported_modules(ast.parse(path.read_text()))
        if name == "preprocess" or name.startswith("preprocess.")
    ]
    assert not offenders, offenders


def test_only_command_lines_import_command_lines():
    """The library (recipes, decoding, training, ...) never imports a command line (avhubert_ami/cli): the command
    lines are thin wrappers on top, and the wheel's only entry to them."""
    cli_dir = REPO / "avhubert_ami" / "cli"
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for path in _py_files("avhubert_ami")
        if cli_dir not in path.parents
        for name in _imported_modules(ast.parse(path.read_text()))
        if name.startswith("avhubert_ami.cli")
    ]
    assert not offenders, offenders


def test_the_checkout_shims_only_run_a_command_line():
    """``preprocess/X.py`` holds no code of its own: it imports ``main`` from ``avhubert_ami.cli.X``."""
    shims = sorted((REPO / "preprocess").glob("*.py"))
    assert {p.stem for p in shims} >= {"hf_to_manifest", "ami_corpus", "mouth_roi", "tokenizer", "synth_ami"}
    for path in shims:
        if path.stem != "__init__":
            assert set(_imported_modules(ast.parse(path.read_text()))) == {"sys", f"avhubert_ami.cli.{path.stem}"}


def _system_exits(path: Path):
    """``(enclosing function name, line)`` of every ``raise SystemExit`` in ``path``."""
    found = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Raise) and child.exc is not None:
                exc = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                    found.append((func, child.lineno))
            visit(child, name)

    visit(ast.parse(path.read_text()), "<module>")
    return found


def test_system_exit_only_in_main_functions():
    offenders = []
    for path in _py_files("avhubert_ami", "preprocess"):
        rel = str(path.relative_to(REPO))
        for func, line in _system_exits(path):
            if func != "main" and (rel, func) not in SYSTEM_EXIT_ALLOWED:
                offenders.append(f"{rel}:{line} in {func}()")
    assert not offenders, offenders
