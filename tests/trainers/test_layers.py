"""Layers: the trainers import the shared generation and sampling (`reft_trl.generation`, `reft_trl.sampling`), never
the evaluation package that sits above them."""

from __future__ import annotations

import ast
from pathlib import Path

import reft_trl.trainers

TRAINERS = Path(reft_trl.trainers.__file__).parent
FORBIDDEN = "reft_trl.evaluation"


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, anywhere in it (function-level imports too), relative imports resolved."""
    package = ["reft_trl", "trainers"]
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            modules.append(module)
            modules.extend(f"{module}.{alias.name}" for alias in node.names)  # `from reft_trl import evaluation`
    return modules


def is_forbidden(module: str) -> bool:
    return module == FORBIDDEN or module.startswith(FORBIDDEN + ".")


def test_the_scan_resolves_every_way_of_importing_evaluation(tmp_path):
    source = tmp_path / "example.py"
    for line in (
        "import reft_trl.evaluation.generation",
        "from reft_trl.evaluation import evaluate",
        "from reft_trl import evaluation",
        "from ..evaluation.sampling import sample_and_score",
        "def f():\n    from .. import evaluation",
    ):
        source.write_text(line + "\n")
        assert any(is_forbidden(module) for module in imported_modules(source)), line
    source.write_text("from reft_trl.sampling import sample_and_score\nfrom .tokenization import prompt_length\n")
    assert not any(is_forbidden(module) for module in imported_modules(source))


def test_no_trainer_module_imports_evaluation():
    files = sorted(TRAINERS.glob("*.py"))
    assert files
    offenders = {
        path.name: [module for module in imported_modules(path) if is_forbidden(module)]
        for path in files
        if any(is_forbidden(module) for module in imported_modules(path))
    }
    assert offenders == {}
