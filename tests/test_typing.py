"""Types adopted module by module: the two lists of typing debt in pyproject.toml only shrink.

``[tool.mypy]`` annotates and checks every module, except the modules listed at its end: those
not fully annotated yet (``disallow_untyped_defs = false``) and those with typing issues
(``ignore_errors = true``). This runs mypy once without the lists and holds each list to exactly
the modules that still need it, so a module that became clean must leave its list, and a module
that is not listed (a new one, or one that was clean) must stay clean. A module moved or renamed
is listed under its new name.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
DEBT_BEGINS = "# --- typing debt:"
DEBT_ENDS = "# --- end of typing debt ---"
ERROR = re.compile(r"^(?P<path>[\w/]+)\.py(?::\d+)?: error: .*\[(?P<code>[\w-]+)\]$")
UNTYPED_CODES = {"no-untyped-def"}  # disallow_untyped_defs and disallow_incomplete_defs both report this


def listed(flag: str, value: bool) -> set[str]:
    """The modules of the ``[[tool.mypy.overrides]]`` entries that set ``flag`` to ``value``."""
    overrides = tomllib.loads(PYPROJECT.read_text())["tool"]["mypy"]["overrides"]
    return {module for entry in overrides if entry.get(flag) is value for module in entry["module"]}


def module_name(path: str) -> str:
    return path.replace("/", ".").removesuffix(".__init__")


@pytest.fixture(scope="module")
def debt(tmp_path_factory) -> dict[str, set[str]]:
    """Modules with errors of each kind when nothing is excused: ``untyped`` and ``issues``."""
    text = PYPROJECT.read_text()
    begins, ends = text.index(DEBT_BEGINS), text.index(DEBT_ENDS) + len(DEBT_ENDS)
    directory = tmp_path_factory.mktemp("mypy")
    config = directory / "pyproject.toml"
    config.write_text(text[:begins] + text[ends:])
    # A cache of its own, started afresh: the django plugin's view of the settings is not reliably
    # refreshed by an incremental run.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", str(directory / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    found: dict[str, set[str]] = {"untyped": set(), "issues": set()}
    for line in result.stdout.splitlines():
        if match := ERROR.match(line):
            kind = "untyped" if match["code"] in UNTYPED_CODES else "issues"
            found[kind].add(module_name(match["path"]))
    return found


def test_the_list_of_modules_with_typing_issues_names_exactly_those_that_have_them(debt):
    excused = listed("ignore_errors", True)
    clean, unlisted = sorted(excused - debt["issues"]), sorted(debt["issues"] - excused)

    assert not clean, f"Clean now (or gone): take them off the ignore_errors list in pyproject.toml: {clean}"
    assert not unlisted, (
        f"Type errors in {unlisted}: fix them (mypy without the typing debt lists shows them); the list only "
        "shrinks (a moved module is listed under its new name)"
    )


def test_the_list_of_modules_not_fully_annotated_names_exactly_those_that_are_not(debt):
    excused = listed("disallow_untyped_defs", False)
    annotated, unlisted = sorted(excused - debt["untyped"]), sorted(debt["untyped"] - excused)

    assert not annotated, f"Fully annotated now (or gone): take them off the disallow_untyped_defs list: {annotated}"
    assert not unlisted, f"Functions without annotations in {unlisted}: annotate them; the list only shrinks"


def test_the_lists_are_the_typing_debt_the_check_takes_out():
    # What the fixture cuts out is exactly the two lists: the rest of [tool.mypy] still applies.
    text = PYPROJECT.read_text()
    debt = text[text.index(DEBT_BEGINS) : text.index(DEBT_ENDS)]
    remaining = tomllib.loads(text.replace(debt, ""))["tool"]["mypy"]

    assert debt.count("[[tool.mypy.overrides]]") == 2
    assert remaining["disallow_untyped_defs"] is True and remaining["check_untyped_defs"] is True
    assert all("ignore_errors" not in entry for entry in remaining["overrides"])
    assert listed("ignore_errors", True) and listed("disallow_untyped_defs", False)
