"""Plain SQL through ``connection.cursor()`` for the few rows every send reads and writes.

The send API reads the caller's token with its user, membership and organization, then the
number being texted with its lead or customer and their facility, and writes the text with its
history entry. Building those joins as querysets cost more CPU than the database spent on them
(bench/README.md). Here the SQL is written once per shape from the models' ``_meta`` (Django's
documented Model ``_meta`` API), run through ``connection.cursor()`` and turned into instances
with ``Model.from_db`` (documented: "Customizing model loading"), each value through its field's
``from_db_value`` or ``to_python``. Related rows are attached by assigning them, as code does.
Planning is not done here: Django's ``server_side_binding`` with psycopg's ``prepare_threshold``
(config/settings.py) lets PostgreSQL plan each statement once per connection, these and the ORM's.

Only Django's documented API is used (tests/test_private_names.py scans app code for private
names of django, psycopg, kombu and twilio).

Shortcut → what it replaces → the test that holds it equal to the ORM (tests/test_fastsql.py, on
SQLite and PostgreSQL) → bench figure (bench/README.md, "Third round"; CPU per read from
``python -m bench.reads``):

+-------------------------------+---------------------------------+------------------------+-------------------+
| shortcut                      | replaces                        | test                   | bench figure      |
+===============================+=================================+========================+===================+
| ``Joined(Token,               | ``Token.objects.select_related( | ``test_the_token_read_ | 1,262 → 341 µs    |
| "user__membership__           | "user__membership__             | equals_the_orm``       |                   |
| organization").get(key=…)``   | organization").get(key=…)``     |                        |                   |
| (config/authentication.py)    |                                 |                        |                   |
+-------------------------------+---------------------------------+------------------------+-------------------+
| ``Joined(PhoneNumber,         | ``PhoneNumber.objects.filter(   | ``test_the_scoped_     | 1,967 → 735 µs    |
| "lead__facility",             | organization=…).select_related( | number_read_equals_    |                   |
| "customer__facility")``       | "lead__facility",               | the_orm``              |                   |
| (core/api.py, the API's       | "customer__facility")           |                        |                   |
| ``OrganizationScopedField``)  | .get(pk=…)``                    |                        |                   |
+-------------------------------+---------------------------------+------------------------+-------------------+
| ``insert(message, entry)``    | ``message.save()`` and          | ``test_insert_writes_  | one statement,    |
| (messaging/services/compose,  | ``entry.save()`` in one         | what_save_writes``     | no BEGIN/COMMIT   |
| inbound; the Idempotency-Key) | transaction                     |                        | (4 a send)        |
+-------------------------------+---------------------------------+------------------------+-------------------+
| the summary's ``UPDATE``      | ``Conversation.objects.filter(  | ``tests/messaging/     | send API CPU a    |
| (``_touch``, messaging/       | …).update(**CASE expressions)`` | test_conversation_     | request: 17.0 →   |
| services/conversations.py)    |                                 | summary.py`` (SQL =    | 10.9 ms (``bench. |
|                               |                                 | the Python rule = the  | profile_api``)    |
|                               |                                 | texts themselves)      |                   |
+-------------------------------+---------------------------------+------------------------+-------------------+
| ``insert(message, entry,      | ``insert`` + the summary's      | ``test_a_number_texted_| 7 → 4 round trips |
| then=conversation_touch_      | ``UPDATE`` (or a first text's   | before_is_texted_in_   | a send (no BEGIN, |
| statements(…))``              | ``INSERT``) in a transaction    | one_statement_…``,     | UPDATE, COMMIT);  |
| (messaging/services/compose,  |                                 | ``test_further_        | the row locked    |
| ``_queued_in_one_statement``) |                                 | statements_…``         | for one statement |
+-------------------------------+---------------------------------+------------------------+-------------------+

Signals: ``Model.from_db`` sends nothing, as a queryset sends nothing. ``insert`` sends no
``pre_save``/``post_save``; for a model that has a receiver of either it saves with ``save()``
instead, so every receiver still runs (``test_insert_saves_through_save_when_someone_listens``);
none listens for the send's rows (``test_nobody_listens_to_the_rows_the_send_inserts``).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import NOT_PROVIDED, Field, Model
from django.db.models.signals import post_save, pre_save

# --- reads -----------------------------------------------------------------------------------


class _Table:
    """One model's columns in a joined read, and how its row hangs off its parent's."""

    def __init__(self, model: type[Model], alias: str, parent: _Table | None, relation: Any) -> None:
        self.model = model
        self.alias = alias
        self.parent = parent
        self.relation = relation  # the field (forward) or the relation (reverse one-to-one) from the parent
        self.fields: list[Field] = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]

    @property
    def reverse(self) -> bool:
        return self.relation is not None and not self.relation.concrete

    def join(self, quote: Callable[[Any], str]) -> str:
        assert self.parent is not None
        table = f"{quote(self.model._meta.db_table)} {self.alias}"
        if self.reverse:  # a reverse one-to-one: the child's key points at the parent
            child = self.relation.field
            on = f"{self.alias}.{quote(child.column)} = {self.parent.alias}.{quote(child.target_field.column)}"
            return f" LEFT JOIN {table} ON {on}"
        field = self.relation
        on = f"{self.alias}.{quote(field.target_field.column)} = {self.parent.alias}.{quote(field.column)}"
        return f" {'LEFT JOIN' if self.optional else 'JOIN'} {table} ON {on}"

    @property
    def optional(self) -> bool:
        """A row that may be missing: a nullable key's, a reverse one-to-one's, or any below such a one
        (an inner join under an outer one would drop the whole row)."""
        if self.parent is None:
            return False
        return self.reverse or self.relation.null or self.parent.optional


class Joined:
    """One model's row with related rows in one ``SELECT``: ``select_related`` written as SQL.

    ``Joined(Token, "user__membership")`` reads what
    ``Token.objects.select_related("user__membership")`` reads: each step of a path is a forward
    foreign key or one-to-one, or a reverse one-to-one.
    ``get(key=…)`` filters on columns of the first model with ``=`` (values as the fields take them).
    """

    def __init__(self, model: type[Model], *paths: str) -> None:
        self.model = model
        self.tables = [_Table(model, "t0", None, None)]
        by_path: dict[str, _Table] = {"": self.tables[0]}
        steps = dict.fromkeys("__".join(p.split("__")[: n + 1]) for p in paths for n in range(p.count("__") + 1))
        for path in steps:
            parent_path, _, name = path.rpartition("__")
            parent = by_path[parent_path]
            relation: Any = parent.model._meta.get_field(name)
            table = _Table(relation.related_model, f"t{len(self.tables)}", parent, relation)
            self.tables.append(table)
            by_path[path] = table
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}

    def sql(self, using: str, names: Sequence[str]) -> str:
        """The statement for a filter on ``names`` (built once per database and filter)."""
        key = (using, tuple(names))
        if key not in self._sql:
            quote: Callable[[Any], str] = connections[using].ops.quote_name
            columns = ", ".join(f"{t.alias}.{quote(f.column)}" for t in self.tables for f in t.fields)
            meta = self.model._meta
            where = " AND ".join(f"t0.{quote(_field(meta, name).column)} = %s" for name in names)
            joins = "".join(t.join(quote) for t in self.tables[1:])
            self._sql[key] = f"SELECT {columns} FROM {quote(meta.db_table)} t0{joins} WHERE {where}"
        return self._sql[key]

    def get(self, *, using: str = "default", **values: Any) -> Model:
        """The one row, or the model's ``DoesNotExist`` (``MultipleObjectsReturned`` for more)."""
        connection = connections[using]
        model: Any = self.model  # its DoesNotExist and MultipleObjectsReturned, which every model has
        meta = model._meta
        # A value the field can't take raises TypeError or ValueError, as the ORM's filter does.
        params = [_field(meta, name).get_db_prep_value(value, connection) for name, value in values.items()]
        if any(_out_of_range(value) for value in params):
            raise model.DoesNotExist(f"{meta.object_name} matching query does not exist.")
        with connection.cursor() as cursor:
            cursor.execute(self.sql(using, list(values)), params)
            rows = cursor.fetchmany(2)
        if not rows:
            raise model.DoesNotExist(f"{meta.object_name} matching query does not exist.")
        if len(rows) > 1:
            raise model.MultipleObjectsReturned(f"get() returned more than one {meta.object_name}.")
        return self._build(rows[0], using)

    def _build(self, row: Sequence[Any], using: str) -> Model:
        connection = connections[using]
        objects: dict[str, Model | None] = {}
        start = 0
        for table in self.tables:
            values = row[start : start + len(table.fields)]
            start += len(table.fields)
            parent = objects[table.parent.alias] if table.parent else None
            if table.parent is not None and parent is None:
                objects[table.alias] = None
                continue
            pk = values[table.fields.index(table.model._meta.pk)]
            obj = None
            if pk is not None:
                converted = [
                    from_db(field, value, connection) for field, value in zip(table.fields, values, strict=True)
                ]
                obj = table.model.from_db(using, table.attnames, converted)
            objects[table.alias] = obj
            if parent is not None and (obj is not None or not table.reverse):
                setattr(parent, table.relation.name if not table.reverse else table.relation.get_accessor_name(), obj)
        root = objects["t0"]
        assert root is not None
        return root


def _field(meta: Any, name: str) -> Field:
    return meta.pk if name == "pk" else meta.get_field(name)


def _out_of_range(value: Any) -> bool:
    """An integer no bigint column holds: no row has it (the ORM answers such a lookup with none)."""
    return isinstance(value, int) and not -(2**63) <= value < 2**63


def from_db(field: Field, value: Any, connection: Any) -> Any:
    """A column's value as the field holds it: its ``from_db_value`` when it has one; on SQLite,
    which stores datetimes without their zone (in UTC under ``USE_TZ``), its ``to_python``."""
    if value is None:
        return None
    from_db_value = getattr(field, "from_db_value", None)
    if from_db_value is not None:
        return from_db_value(value, None, connection)
    if connection.vendor == "sqlite":
        value = field.to_python(value)
        if isinstance(value, datetime.datetime) and settings.USE_TZ and value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
    return value


# --- writes ----------------------------------------------------------------------------------


class _Insert:
    """The ``INSERT … RETURNING`` of a new row of ``model`` whose primary key the database makes."""

    def __init__(self, model: type[Model], using: str) -> None:
        meta = model._meta
        quote: Callable[[Any], str] = connections[using].ops.quote_name
        self.fields = [f for f in meta.local_concrete_fields if f is not meta.pk and not f.generated]
        self.pk = meta.pk
        self.sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(
            quote(meta.db_table),
            ", ".join(quote(f.column) for f in self.fields),
            ", ".join(["%s"] * len(self.fields)),
            quote(meta.pk.column),
        )

    def params(self, obj: Model, connection: Any, fields: Sequence[Field] | None = None) -> list[Any]:
        """The row's values as ``save()`` prepares them (each field's ``pre_save``: ``auto_now``)."""
        chosen = self.fields if fields is None else fields
        return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in chosen]


_inserts: dict[tuple[type[Model], str], _Insert] = {}


@functools.cache
def _plain_shape(model: type[Model]) -> bool:
    """A model one ``INSERT`` writes as ``save()`` would: an ``AutoField`` key, no parents, no
    ``db_default`` to read back, no ``order_with_respect_to`` to count."""
    meta = model._meta
    return (
        meta.auto_field is not None
        and meta.pk is meta.auto_field
        and not meta.parents
        and meta.order_with_respect_to is None
        and all(getattr(f, "db_default", NOT_PROVIDED) is NOT_PROVIDED for f in meta.concrete_fields)
    )


def _plain(model: type[Model]) -> bool:
    """``_plain_shape``, and nobody listens to the model's ``pre_save`` or ``post_save`` (now: a
    receiver may be connected at any time)."""
    return _plain_shape(model) and not pre_save.has_listeners(model) and not post_save.has_listeners(model)


# Further statements of ``insert``'s single statement: each an SQL text with ``%s`` parameters and
# its values (a data-modifying statement: ``UPDATE …``, ``INSERT …``), run after the rows' inserts.
Then = Callable[[], "list[tuple[str, list[Any]]] | None"]


def insert(*objs: Model, using: str = "default", then: Then | None = None) -> bool:
    """Save new instances as ``obj.save(force_insert=True)`` would, all or none.

    On PostgreSQL in one statement (``WITH t0 AS (INSERT … RETURNING id), …``), atomic without
    a transaction of its own; each instance gets its primary key and ``_state`` as ``save()``
    leaves them. The rows may not refer to one another (none has an id yet). Elsewhere, or for a
    model ``_plain`` refuses (someone listens to its signals, a ``db_default``, inheritance) or a
    value that is an expression, the instances are saved with ``save()`` in one transaction.

    ``then``: the caller's further writes, folded into the same statement (``then0 AS (…)``, …):
    called once the rows' values are prepared (``auto_now`` times set), it returns the statements,
    which may read the new keys as ``(SELECT id FROM t0)`` (the first row's), or ``None`` when they
    can't be folded. With ``then``, nothing is written unless everything is: ``False`` says the
    caller must write the rows and its statements itself (not PostgreSQL, a refused model or
    value, ``then`` said ``None``). Without it, ``True``.
    """
    connection = connections[using]
    for obj in objs:
        if not obj._state.adding or obj.pk is not None:
            raise ValueError(f"insert saves new rows only; {obj!r} has one already")
        _take_related_keys(obj)
    fast = connection.vendor == "postgresql" and all(_plain(type(obj)) for obj in objs)
    shapes = [_insert_for(type(obj), using) for obj in objs] if fast else []
    if not fast or any(
        hasattr(getattr(obj, f.attname), "resolve_expression")
        for obj, s in zip(objs, shapes, strict=True)
        for f in s.fields
    ):
        if then is not None:
            return False
        with transaction.atomic(using=using):
            for obj in objs:
                obj.save(using=using, force_insert=True)
        return True
    params = [value for obj, shape in zip(objs, shapes, strict=True) for value in shape.params(obj, connection)]
    further = then() if then is not None else []
    if further is None:
        return False
    _run_inserts(objs, shapes, params, further, connection, using)
    return True


def _run_inserts(
    objs: Sequence[Model],
    shapes: Sequence[_Insert],
    params: list[Any],
    further: list[tuple[str, list[Any]]],
    connection: Any,
    using: str,
) -> None:
    if len(objs) == 1 and not further:
        sql = shapes[0].sql
    else:
        names = [f"t{n}" for n in range(len(objs))]
        ctes = [f"{name} AS ({shape.sql})" for name, shape in zip(names, shapes, strict=True)]
        ctes += [f"then{n} AS ({statement})" for n, (statement, _) in enumerate(further)]
        params = params + [value for _, values in further for value in values]
        sql = f"WITH {', '.join(ctes)} SELECT {', '.join(f'{name}.*' for name in names)} FROM {', '.join(names)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    for obj, shape, pk in zip(objs, shapes, row, strict=True):
        setattr(obj, shape.pk.attname, from_db(shape.pk, pk, connection))
        obj._state.adding = False
        obj._state.db = using


def insert_statement(
    obj: Model, *, using: str = "default", values: dict[str, str], where: str
) -> tuple[str, list[Any]] | None:
    """``INSERT INTO … SELECT … WHERE where`` of the new row ``obj``, for ``insert``'s ``then``:
    ``values`` gives SQL for some columns by attname (``(SELECT id FROM t0)``), the rest are the
    instance's own, prepared as ``save()`` prepares them. ``None`` for a model ``insert`` would
    refuse to write in one statement."""
    model = type(obj)
    if not _plain(model):
        return None
    sql, own = _insert_select(model, using, tuple(values.items()), where)
    return sql, _insert_for(model, using).params(obj, connections[using], own)


@functools.cache
def _insert_select(
    model: type[Model], using: str, values: tuple[tuple[str, str], ...], where: str
) -> tuple[str, list[Field]]:
    """``insert_statement``'s text (built once per shape) and the fields whose values it takes."""
    shape, given = _insert_for(model, using), dict(values)
    quote: Callable[[Any], str] = connections[using].ops.quote_name
    columns = ", ".join(quote(f.column) for f in shape.fields)
    selected = ", ".join(given.get(f.attname, "%s") for f in shape.fields)
    own = [f for f in shape.fields if f.attname not in given]
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT {selected} WHERE {where}", own


def _take_related_keys(obj: Model) -> None:
    """As ``save()`` does: refuse a related object not saved yet, and take the key of one saved
    after it was assigned."""
    field: Any  # a relation's field: ``is_cached``, ``get_cached_value``, ``target_field``
    for field in obj._meta.concrete_fields:
        if field.is_relation and field.is_cached(obj):
            related = field.get_cached_value(obj)
            if related is None:
                continue
            if related.pk is None:
                raise ValueError(
                    f"save() prohibited to prevent data loss due to unsaved related object '{field.name}'."
                )
            if getattr(obj, field.attname) in (None, ""):
                setattr(obj, field.attname, getattr(related, field.target_field.attname))


def _insert_for(model: type[Model], using: str) -> _Insert:
    shape = _inserts.get((model, using))
    if shape is None:
        shape = _inserts[(model, using)] = _Insert(model, using)
    return shape
