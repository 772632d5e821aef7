"""Search that an index serves on PostgreSQL, with the embedded database's plain fallback.

PostgreSQL answers word search from a stored ``tsvector`` column with a GIN index, and fragment
search (names, numbers) from ``pg_trgm`` GIN indexes, which serve ``LIKE '%…%'`` (Django's
``contains``, and ``icontains`` through an index on ``UPPER(column)``). SQLite, which ``make run``
uses, has neither: the ``tsvector`` column is empty there, the indexes are plain ones, and the same
searches are ``icontains`` over the rows (docs/ARCHITECTURE.md "Indexes and search").
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector
from django.db.models import Index
from django.db.models.functions import Upper

# The text search configuration of every stored vector and every query against it: they must agree.
SEARCH_CONFIG = "english"


class StoredSearchVector(SearchVector):
    """``to_tsvector('english', …)`` for a ``GeneratedField``; NULL on other databases (no text search there)."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, tuple[str | int, ...]]:
        return "NULL", ()


class SearchIndex(GinIndex):
    """A GIN index on PostgreSQL; elsewhere a plain index of the same name on the same columns.

    The embedded database has no GIN (nor ``gin_trgm_ops``): there the index is an ordinary one, so
    the same migrations run on both and a table SQLite rebuilds keeps building.
    """

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        expressions = [e.get_source_expressions()[0] if isinstance(e, OpClass) else e for e in self.expressions]
        return Index(*expressions, fields=list(self.fields), name=self.name).create_sql(model, schema_editor, **kwargs)


def trigram_index(*, field: str, name: str) -> SearchIndex:
    """A ``pg_trgm`` GIN index serving ``field__icontains``.

    Django writes ``icontains`` on PostgreSQL as ``UPPER(field::text) LIKE UPPER('%fragment%')``, so
    the index is on that expression: one on the bare column would not be used.
    """
    return SearchIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=name)
