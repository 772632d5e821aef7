"""Querysets of a fixed shape compiled once, for the few reads and writes every send makes.

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

On PostgreSQL both run as server-side prepared statements (``prepared_cursor``): PostgreSQL
parses and plans each of them once per connection instead of on every request (planning the
number's five-table join cost more of the database's CPU than running it). Django turns psycopg's
automatic preparing off for everything (``prepare_threshold=None``) so that poolers in transaction
mode keep working; here it is asked for, per statement, only for these few fixed statements, and
``DB_PREPARED_STATEMENTS=0`` turns it off (PgBouncer older than 1.21, or without
``max_prepared_statements``, can't carry prepared statements in transaction mode).

``insert_together`` is the same idea for writes: new rows of several models saved by one
statement (on PostgreSQL, one ``INSERT`` per row chained in a ``WITH``), atomic on its own, so a
send's text and its history entry need no transaction of their own: one round trip instead of
four (``BEGIN``, two ``INSERT`` statements, ``COMMIT``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.signals import post_save, pre_save

# Placeholders the values are recognised by in the compiled parameters: unlikely real values.
_INT_BASE = -7_301_000_000
_STR_BASE = "prepared-placeholder-"
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1


def prepared_cursor(using: str = "default"):
    """A cursor (Django's wrapper: logged, counted, errors wrapped) whose statements PostgreSQL
    prepares on first use and reuses for the life of the connection. Elsewhere, a plain cursor.

    Only for statements of a fixed text whose values all go in as parameters: each distinct text
    becomes one prepared statement of the connection (psycopg keeps the last 100).
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or not getattr(settings, "DB_PREPARED_STATEMENTS", True):
        return connection.cursor()
    cursor_class, timestamptz, register_tzloader, text_format = _postgres()
    # What ``connection.cursor()`` does, with a cursor that binds on the server and prepares.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = cursor_class(connection.connection)
        raw.ops = connection.ops
        # As Django's ``create_cursor``: timestamps are read in the connection's time zone.
        if connection.timezone != connection.connection.adapters.get_loader(timestamptz, text_format).timezone:
            register_tzloader(connection.timezone, raw)
        return connection._prepare_cursor(raw)


@functools.cache
def _postgres():
    """The PostgreSQL backend's pieces ``prepared_cursor`` needs, imported once (only there)."""
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, ServerBindingCursor
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    class PreparingCursor(ServerBindingCursor):
        ops = None  # the Django connection's operations, for the query log

        def execute(self, query, params=None, *, prepare=None, binary=None):
            try:
                return super().execute(query, params, prepare=True, binary=binary)
            finally:
                # A statement prepared before runs by name, and psycopg leaves ``_query`` (which
                # only Django's query log reads) as it was: give the log this statement, failed or not.
                self._query = _LoggedQuery(self.ops, query, params)

    return PreparingCursor, TIMESTAMPTZ_OID, register_tzloader, Format.TEXT


class _LoggedQuery:
    """What Django's query log reads of a cursor's last statement (``_query.query``), the values
    written in only when it is read (as Django does with server-side binding)."""

    __slots__ = ("ops", "params", "sql")

    def __init__(self, ops, sql: str, params) -> None:
        self.ops, self.sql, self.params = ops, sql, params

    @property
    def query(self) -> bytes:
        return self.ops.compose_sql(self.sql, self.params).encode()


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
        with prepared_cursor(using) as cursor:
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


# --- writes ----------------------------------------------------------------------------------


class _Insert:
    """The ``INSERT … RETURNING`` Django's ``save()`` makes for a new row of ``model``, built once."""

    def __init__(self, model: type[Model], alias: str) -> None:
        connection = connections[alias]
        meta = model._meta
        quote = connection.ops.quote_name
        # What ``Model._save_table`` inserts when the primary key is not set.
        self.fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
        self.returning = list(meta.db_returning_fields)
        self.simple = (
            meta.auto_field is not None
            and not meta.parents
            and meta.order_with_respect_to is None
            and not any(hasattr(f, "get_placeholder") for f in self.fields)
        )
        self.sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(
            quote(meta.db_table),
            ", ".join(quote(f.column) for f in self.fields),
            ", ".join(["%s"] * len(self.fields)),
            ", ".join(quote(f.column) for f in self.returning),
        )
        compiler = model._base_manager.using(alias).none().query.get_compiler(using=alias)
        self.compiler = compiler
        self.converters = compiler.get_converters([f.get_col(meta.db_table) for f in self.returning])

    def params(self, obj: Model, connection) -> list[Any]:
        """The row's values as ``save()`` prepares them (``pre_save`` fills ``auto_now`` fields)."""
        return [field.get_db_prep_save(field.pre_save(obj, add=True), connection=connection) for field in self.fields]

    def takes(self, obj: Model) -> bool:
        """False for a value the ORM must compile (an expression): that row goes through ``save()``."""
        return self.simple and not any(hasattr(getattr(obj, f.attname), "resolve_expression") for f in self.fields)


_inserts: dict[tuple[type[Model], str], _Insert] = {}


def _insert_for(model: type[Model], alias: str) -> _Insert:
    shape = _inserts.get((model, alias))
    if shape is None:
        shape = _inserts[(model, alias)] = _Insert(model, alias)
    return shape


def insert_together(*objs: Model, using: str = "default") -> None:
    """Save new (unsaved) model instances as ``obj.save(force_insert=True)`` would, all or none.

    On PostgreSQL in one statement: ``WITH t0 AS (INSERT … RETURNING id), t1 AS (…) SELECT …``;
    no transaction is opened, none is needed (a statement is atomic). Each instance gets what its
    ``save()`` would give it (primary key and the columns the database returns, ``_state``), and
    ``pre_save``/``post_save`` are sent for it as ``save()`` sends them. The rows may not refer to
    one another (none has an id yet). Elsewhere (SQLite), or for a model or value the one
    statement can't take (an expression, a custom placeholder, inheritance), the instances are
    saved one by one inside one transaction. tests/test_prepared.py holds the rows equal to what
    ``save()`` writes.
    """
    connection = connections[using]
    for obj in objs:
        if obj._state.adding is False or obj.pk is not None:
            raise ValueError(f"insert_together saves new rows only; {obj!r} has one already")
        obj._prepare_related_fields_for_save(operation_name="save")
    shapes = [_insert_for(type(obj), using) for obj in objs] if connection.vendor == "postgresql" else []
    if not shapes or not all(map(_Insert.takes, shapes, objs)):
        with transaction.atomic(using=using):
            for obj in objs:
                obj.save(using=using, force_insert=True)
        return
    for obj in objs:
        pre_save.send(sender=type(obj), instance=obj, raw=False, using=using, update_fields=None)
    params = [value for obj, shape in zip(objs, shapes, strict=True) for value in shape.params(obj, connection)]
    if len(objs) == 1:
        sql = shapes[0].sql
    else:
        names = [f"t{n}" for n in range(len(objs))]
        ctes = ", ".join(f"{name} AS ({shape.sql})" for name, shape in zip(names, shapes, strict=True))
        sql = f"WITH {ctes} SELECT * FROM {', '.join(names)}"
    with prepared_cursor(using) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    start = 0
    for obj, shape in zip(objs, shapes, strict=True):
        end = start + len(shape.returning)
        values = row[start:end]
        if shape.converters:
            values = next(iter(shape.compiler.apply_converters([values], shape.converters)))
        for value, field in zip(values, shape.returning, strict=True):
            setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = using
        start = end
    for obj in objs:
        post_save.send(sender=type(obj), instance=obj, created=True, update_fields=None, raw=False, using=using)


_updates: dict[tuple, str] = {}


def _db_value(meta, name: str, value: Any, connection) -> Any:
    if isinstance(value, Model):
        value = value.pk
    elif hasattr(value, "resolve_expression"):
        raise TypeError(f"update_by_pk takes plain values; {name} is an expression")
    return meta.get_field(name).get_db_prep_save(value, connection=connection)


def update_by_pk(
    model: type[Model], pk: Any, *, where: dict[str, Any] | None = None, using: str = "default", **values: Any
) -> int:
    """``model.objects.filter(pk=pk, **where).update(**values)`` as a prepared statement; returns
    the rows changed (0 or 1). ``where``: more columns that must equal a value (not None) for the
    row to change. Plain values only (no expressions), passed through each field's own
    ``get_db_prep_save`` as ``update()`` does; like ``update()``, no signals and no ``auto_now``.
    """
    meta = model._meta
    where = where or {}
    shape = (model, tuple(values), tuple(where), using)
    sql = _updates.get(shape)
    if sql is None:
        quote = connections[using].ops.quote_name
        columns = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in values)
        conditions = "".join(f" AND {quote(meta.get_field(name).column)} = %s" for name in where)
        sql = _updates[shape] = (
            f"UPDATE {quote(meta.db_table)} SET {columns} WHERE {quote(meta.pk.column)} = %s{conditions}"
        )
    connection = connections[using]
    params = [_db_value(meta, name, value, connection) for name, value in values.items()]
    params.append(meta.pk.get_db_prep_save(pk, connection=connection))
    for name, value in where.items():
        if value is None:
            raise ValueError(f"update_by_pk: {name} = NULL is never true; give a value")
        params.append(_db_value(meta, name, value, connection))
    with prepared_cursor(using) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@functools.cache
def _concrete_fields(model: type[Model]) -> dict[str, Any]:
    """The model's concrete fields by name and by attname (``save(update_fields)`` takes either)."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    fields.update({f.name: f for f in model._meta.concrete_fields})
    return fields


def save_fields(obj: Model, fields: list[str], *, using: str = "default") -> None:
    """``obj.save(update_fields=fields)`` as a prepared UPDATE: the same ``pre_save``/``post_save``
    signals, the fields' own ``pre_save`` (``auto_now``), and the same error when no row changed."""
    from django.db import DatabaseError

    model = type(obj)
    by_name = _concrete_fields(model)
    update_fields = frozenset(fields)
    if unknown := sorted(update_fields - by_name.keys()):
        raise ValueError(f"save_fields: {model._meta.object_name} has no field {', '.join(unknown)}")
    pre_save.send(sender=model, instance=obj, raw=False, using=using, update_fields=update_fields)
    values = {}
    for name in fields:
        field = by_name[name]
        values[field.name] = field.pre_save(obj, add=False)
    if not update_by_pk(model, obj.pk, using=using, **values):
        raise DatabaseError("Save with update_fields did not affect any rows.")
    obj._state.db = using
    obj._state.adding = False
    post_save.send(sender=model, instance=obj, created=False, update_fields=update_fields, raw=False, using=using)
