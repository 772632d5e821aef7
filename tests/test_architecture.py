"""The import contracts of docs/ARCHITECTURE.md ("Layers"), checked by import-linter on every test run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "core", "interactions", "messaging", "workflows")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    # Its own process: import-linter reads pyproject.toml from the working directory and caches nothing here.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_every_import_contract_is_kept():
    result = _lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert " kept, 0 broken." in result.stdout


def test_an_import_the_wrong_way_breaks_the_layers_contract(tmp_path):
    # A copy of the project with one arrow pointing up: the CRM importing the workflows app.
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    services = tmp_path / "interactions" / "services" / "__init__.py"
    services.write_text(services.read_text() + "\nfrom workflows.services import enrollment_start  # noqa\n")

    result = _lint_imports(tmp_path)

    assert result.returncode == 1
    assert "interactions is not allowed to import workflows" in result.stdout
    assert "interactions.services -> workflows.services" in result.stdout
