"""Querysets of a fixed shape compiled once, for the few reads every API request makes.

The ORM compiles a queryset to SQL on every evaluation. For the joins on the hottest path (the
API token with its user, membership and organization; the number being texted with its owner and
facility) that compilation cost more CPU than everything the database did for the request
(bench/README.md). ``PreparedQuery`` builds the queryset once with placeholder values, keeps its
compiled SQL and the compiler's row conversion, and afterwards only executes the SQL with the
real values and turns the rows into model instances exactly as ``QuerySet`` does (the same
converters, ``Model.from_db`` and the same ``select_related`` population).

Only for reads whose shape never changes with the values: filters on plain values and
``select_related``. tests/test_prepared.py holds each prepared read of the project equal to its
queryset, on both databases.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

# Placeholders the values are recognised by in the compiled parameters: unlikely real values.
_INT_BASE = -7_301_000_000
_STR_BASE = "prepared-placeholder-"
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1


class _Compiled:
    def __init__(self, queryset: QuerySet, slots: dict[str, Any]) -> None:
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        self.sql = sql
        self.params = list(params)
        self.positions: dict[str, int] = {}
        for name, placeholder in slots.items():
            found = [i for i, value in enumerate(self.params) if value == placeholder]
            if len(found) != 1:
                raise ValueError(f"prepared query: the value of {name!r} must appear once in its SQL")
            self.positions[name] = found[0]
        klass_info, select = compiler.klass_info, compiler.select
        self.model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self.span = (start, end)
        self.init_list = [column[0].target.attname for column in select[start:end]]
        self.populators = get_related_populators(klass_info, select, queryset.db)
        self.compiler = compiler
        self.converters = compiler.get_converters([column[0] for column in select[: compiler.col_count]])
        self.db = queryset.db


class PreparedQuery:
    """``build(**values)`` → a queryset; ``PreparedQuery(build, pk=int, key=str).get(pk=…, key=…)``.

    Each keyword names a value of ``build`` and its type (``int`` or ``str``), the type the
    placeholder is made of. The values are passed through the model fields' own conversion by the
    queryset when the placeholder SQL is compiled, so a value must be given as that field stores
    it (an ``int`` id, a token string).
    """

    def __init__(self, build: Callable[..., QuerySet], **types: type) -> None:
        self.build = build
        self.types = types
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _placeholders(self) -> dict[str, Any]:
        values = {}
        for n, (name, kind) in enumerate(self.types.items()):
            values[name] = _INT_BASE - n if kind is int else f"{_STR_BASE}{n}"
        return values

    def _for(self, alias: str) -> _Compiled:
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                placeholders = self._placeholders()
                # At most two rows: enough for ``get`` to tell one from several.
                compiled = _Compiled(self.build(**placeholders).using(alias)[:2], placeholders)
                self._compiled[alias] = compiled
        return compiled

    def fetch(self, *, using: str = "default", **values: Any) -> list[Model]:
        """The rows (at most two) as model instances, with their ``select_related`` objects."""
        compiled = self._for(using)
        params = list(compiled.params)
        for name, value in values.items():
            value = self.types[name](value)
            if isinstance(value, int) and not _BIGINT_MIN <= value <= _BIGINT_MAX:
                return []  # no id is that large (the ORM answers such a lookup with no rows too)
            params[compiled.positions[name]] = value
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        start, end = compiled.span
        objects = []
        for row in rows:
            obj = compiled.model.from_db(compiled.db, compiled.init_list, row[start:end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            objects.append(obj)
        return objects

    def get(self, *, using: str = "default", **values: Any) -> Model:
        """The one row, or the model's ``DoesNotExist`` (``MultipleObjectsReturned`` for more)."""
        found = self.fetch(using=using, **values)
        if len(found) == 1:
            return found[0]
        model = self._for(using).model
        if not found:
            raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
        raise model.MultipleObjectsReturned(f"get() returned more than one {model._meta.object_name}.")
