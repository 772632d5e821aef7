"""App code uses only the public names of django, psycopg, kombu and twilio, and patches no library.

Generated, not a list: the private names are read out of the installed packages themselves
(every ``_name`` they define: functions, classes, methods, attributes they assign), and every
module of the project's own packages is scanned for

- an import of an underscored name from those packages (``from requests.auth import _x`` is not
  theirs, ``from django.db.models.query import _x`` is), or of an underscored module of theirs;
- an attribute of theirs read or written (``connection._prepare_cursor``, ``obj._prepare_related_fields_for_save``),
  or a method of theirs overridden in a subclass of one of their classes;
- an attribute set on anything imported from outside the project (a monkeypatch:
  ``PhoneNumber.is_valid = …``, ``setattr(Channel, …)``), whatever library it belongs to.

A few underscored names are Django's documented API and allowed: ``_meta`` ("Model _meta API"),
``_state``, ``_base_manager`` and ``_default_manager`` (the model instance and manager references).
"""

from __future__ import annotations

import ast
import functools
import importlib
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("django", "psycopg", "kombu", "twilio")
DOCUMENTED = frozenset({"_meta", "_state", "_base_manager", "_default_manager"})
NOT_APP_CODE = frozenset({"tests", "bench"})


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_files(package: str) -> Iterator[Path]:
    module = importlib.import_module(package)  # kombu replaces its module object: ask it, not the finder
    assert module.__file__, package
    yield from Path(module.__file__).parent.rglob("*.py")


@functools.cache
def private_names() -> frozenset[str]:
    """Every underscored name the packages define, read from their source."""
    names: set[str] = set()
    for package in PACKAGES:
        for path in _package_files(package):
            try:
                tree = ast.parse(path.read_bytes())
            except SyntaxError:  # a template of a project layout, not Python of the package
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(node.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return frozenset(name for name in names if _private(name)) - DOCUMENTED


def app_packages() -> list[str]:
    """The project's own packages: every top-level folder with an ``__init__.py`` but the tests'."""
    return sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in NOT_APP_CODE)


def app_modules() -> list[Path]:
    return sorted(path for package in app_packages() for path in (ROOT / package).rglob("*.py"))


def _root(module: str) -> str:
    return module.split(".")[0]


class Scan(ast.NodeVisitor):
    """What one module does with the packages' private names and with imported objects."""

    def __init__(self, own: frozenset[str]) -> None:
        self.own = own  # the project's top-level packages
        self.found: list[str] = []
        self.imported: dict[str, str] = {}  # a local name -> the module it came from
        self.members: dict[str, str] = {}  # a local name -> its name in that module (``from m import x``)
        self.classes: list[bool] = []  # for each enclosing class: does it derive from a package's class?

    def _theirs(self, module: str) -> bool:
        return _root(module) in PACKAGES

    def _outside(self, module: str) -> bool:
        return bool(module) and _root(module) not in self.own and module != "__future__"

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if self._theirs(alias.name) and any(_private(part) for part in alias.name.split(".")):
                self.found.append(f"line {node.lineno}: import {alias.name}")
            if alias.asname:
                self.imported[alias.asname] = alias.name
            else:
                self.imported[alias.name.split(".")[0]] = alias.name.split(".")[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:  # a relative import: the project's own
            module = ""
        for alias in node.names:
            if self._theirs(module) and (_private(alias.name) or any(_private(p) for p in module.split("."))):
                self.found.append(f"line {node.lineno}: from {module} import {alias.name}")
            if module:
                self.imported[alias.asname or alias.name] = module
                self.members[alias.asname or alias.name] = alias.name
        self.generic_visit(node)

    def _base_module(self, node: ast.expr) -> str:
        while isinstance(node, ast.Attribute):
            node = node.value
        return self.imported.get(node.id, "") if isinstance(node, ast.Name) else ""

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(any(self._theirs(self._base_module(base)) for base in node.bases))
        for item in node.body:
            if (
                self.classes[-1]
                and isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                and item.name in private_names()
            ):
                self.found.append(f"line {item.lineno}: overrides {node.name}.{item.name}")
        self.generic_visit(node)
        self.classes.pop()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in private_names():
            on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if not on_self or (self.classes and self.classes[-1]):
                self.found.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node.ctx, ast.Store | ast.Del) and self._patched(node.value):
            self.found.append(f"line {node.lineno}: sets {ast.unparse(node)}")
        self.generic_visit(node)

    def _patched(self, node: ast.expr) -> bool:
        """Whether ``node`` is a class or a module from outside the project: setting an attribute
        there patches a library (setting one of an object of theirs, ``admin.site.site_header``,
        configures that object)."""
        chain: list[str] = []
        while isinstance(node, ast.Attribute):
            chain.insert(0, node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or not self._outside(self.imported.get(node.id, "")):
            return False
        module = self.imported[node.id]
        try:
            target = importlib.import_module(module)
            if node.id in self.members:
                member = self.members[node.id]
                target = (
                    getattr(target, member)
                    if hasattr(target, member)
                    else importlib.import_module(f"{module}.{member}")
                )
            for name in chain:
                target = getattr(target, name)
        except (ImportError, AttributeError):
            return True  # can't tell: counted as a patch
        return isinstance(target, type | types.ModuleType)

    def visit_Call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
            and node.args
            and self._patched(node.args[0])
        ):
            self.found.append(f"line {node.lineno}: {node.func.id} on {ast.unparse(node.args[0])}")
        self.generic_visit(node)


def scan(source: str) -> list[str]:
    visitor = Scan(frozenset(app_packages()))
    visitor.visit(ast.parse(source))
    return visitor.found


def test_the_private_names_are_read_from_the_packages():
    names = private_names()
    # What the fast path once used, among thousands of others: the list is the packages' own.
    assert {
        "_prepare_cursor",
        "_prepare_related_fields_for_save",
        "_create_client",
        "_test_only_last_response",
    } <= names
    assert len(names) > 1000
    assert app_packages() and {"core", "messaging", "config"} <= set(app_packages())


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        ("from django.db import connection\nconnection._prepare_cursor(raw)", "._prepare_cursor"),
        (
            "def f(obj):\n    obj._prepare_related_fields_for_save(operation_name='save')",
            "._prepare_related_fields_for_save",
        ),
        ("from django.db.models.query import _x", "from django.db.models.query import _x"),
        ("import psycopg._encodings", "import psycopg._encodings"),
        (
            "from kombu.transport import redis\nclass C(redis.Channel):\n    def _create_client(self): ...",
            "overrides C._create_client",
        ),
        (
            "from kombu.transport import redis\n"
            "class C(redis.Channel):\n    def f(self):\n        return self._create_client()",
            "._create_client",
        ),
        (
            "from phonenumber_field.phonenumber import PhoneNumber\nPhoneNumber.is_valid = len",
            "sets PhoneNumber.is_valid",
        ),
        ("import requests\nsetattr(requests.Session, 'send', print)", "setattr on requests.Session"),
    ],
)
def test_the_scan_finds(source, finding):
    assert any(finding in found for found in scan(source)), scan(source)


@pytest.mark.parametrize(
    "source",
    [
        "class Mine:\n    def _create_client(self):\n        return self._create_client",  # our own class's names
        "def f(obj):\n    return obj._meta.db_table, obj._state.adding",  # documented
        "from django.db import models\nclass M(models.Model):\n    def save(self, *a, **k):\n        self.x = 1",
        "from .models import Message\nMessage.label = 'x'",  # the project's own class
        "from django.contrib import admin\nadmin.site.site_header = 'Textdesk'",  # configuring an object
    ],
)
def test_the_scan_leaves_alone(source):
    assert scan(source) == []


def test_app_code_uses_no_private_name_and_patches_nothing():
    modules = app_modules()
    assert len(modules) > 100
    found = {str(path.relative_to(ROOT)): scan(path.read_text()) for path in modules}
    assert {path: lines for path, lines in found.items() if lines} == {}
