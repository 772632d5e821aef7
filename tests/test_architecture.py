"""The import contracts of docs/ARCHITECTURE.md ("Layers"), checked by import-linter on every test run, and the
length every app function keeps to."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = ("config", "core", "interactions", "messaging", "workflows", "integrations", "ops")
MAX_FUNCTION_LINES = 80  # docs/ARCHITECTURE.md "Module map"
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
    for name in APP_PACKAGES:  # all of them: the contracts name each, and none may come from elsewhere
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    services = tmp_path / "interactions" / "services" / "__init__.py"
    services.write_text(services.read_text() + "\nfrom workflows.services import enrollment_start  # noqa\n")

    result = _lint_imports(tmp_path)

    assert result.returncode == 1
    assert "interactions is not allowed to import workflows" in result.stdout
    assert "interactions.services -> workflows.services" in result.stdout


def test_a_selector_importing_its_apps_services_breaks_the_selectors_contract(tmp_path):
    for name in APP_PACKAGES:  # all of them: the contracts name each, and none may come from elsewhere
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    inbox = tmp_path / "messaging" / "selectors" / "inbox.py"
    inbox.write_text(inbox.read_text() + "\nfrom messaging.services import message_queue  # noqa\n")

    result = _lint_imports(tmp_path)

    assert result.returncode == 1
    assert "messaging.selectors.inbox -> messaging.services" in result.stdout


def _functions_longer_than(limit: int, paths, root: Path = ROOT) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_app_function_is_longer_than_eighty_lines():
    app_files = [p for app in APP_PACKAGES for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]

    assert len(app_files) > 100  # the apps were found
    assert _functions_longer_than(MAX_FUNCTION_LINES, app_files) == []


def test_the_length_check_finds_a_long_function(tmp_path):
    long = tmp_path / "long.py"
    long.write_text("def long():\n" + "    x = 1\n" * MAX_FUNCTION_LINES)

    assert _functions_longer_than(MAX_FUNCTION_LINES, [long], root=tmp_path) == ["long.py:1 long (81 lines)"]


NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


def test_the_messaging_services_docstring_names_each_part_and_counts_them_right():
    import messaging.services as package

    parts = sorted(path.stem for path in Path(package.__file__).parent.glob("*.py") if path.stem != "__init__")
    doc = package.__doc__ or ""
    listed = sorted(line.split("``")[1] for line in doc.splitlines() if line.startswith("- ``"))

    assert listed == parts, "messaging/services/__init__.py: one '- ``part``: …' line for each module of the package"
    assert f"in {NUMBERS[len(parts) - 1]} parts" in doc.splitlines()[0]


APPS = r"(?:config|core|interactions|messaging|workflows|integrations|ops)"


def _resolves(dotted: str) -> bool:
    """``a.b.c`` is a module or package of the project, or a name defined in one."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:split])
        source = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
        if not source.exists():
            continue
        rest = parts[split:]
        if not rest:
            return True
        return len(rest) == 1 and bool(
            re.search(rf"^\s*(?:def|class) {rest[0]}\b|^{rest[0]}\s*[:=]|\b{rest[0]},?$", source.read_text(), re.M)
        )
    return False


def test_every_module_the_placement_guide_and_the_glossary_name_exists():
    # docs/ARCHITECTURE.md "Where does a new X go" and "Glossary" name where things live; a move
    # that leaves them behind fails here, not in a newcomer's first hour.
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    sections = text[text.index("## Where does a new X go") : text.index("## Types")]
    names = set(re.findall(r"`([^`<>{}\s]+)`", sections))
    paths = {name for name in names if "/" in name and not name.startswith("/")}
    dotted = {name for name in names if re.fullmatch(rf"{APPS}(?:\.\w+)+", name)}

    assert len(paths) > 30 and len(dotted) > 10  # the scan does find them
    assert sorted(path for path in paths if not any(ROOT.glob(path.rstrip("/")))) == []
    assert sorted(name for name in dotted if not _resolves(name)) == []
    assert not _resolves("messaging.services.no_such_service") and not _resolves("core.no_such_module")


def test_the_documented_layers_are_the_contract_s_layers():
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    layers = contract["layers"]  # top first
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    drawing = text[text.index("## Layers") : text.index("## Module map")]
    rule = next(line for line in text.splitlines() if line.startswith("12. **Layers.**"))

    assert contract["type"] == "layers" and "ops" in layers
    assert re.findall(r"^  (\w+)/ ", drawing, re.M) == ["config", *layers]
    assert re.findall(r"`(\w+)`", rule.split(";")[0]) == layers[::-1]
