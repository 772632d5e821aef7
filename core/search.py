"""Search that an index serves on PostgreSQL, with the embedded database's plain fallback.

PostgreSQL answers word search from a stored ``tsvector`` column with a GIN index, and fragment
search (names, numbers) from ``pg_trgm`` GIN indexes, which serve ``ILIKE '%…%'`` (Django's
``icontains``) as they are. SQLite, which ``make run`` uses, has neither: the ``tsvector`` column is
empty there, the indexes are plain ones, and the same searches are ``icontains`` over the rows
(docs/ARCHITECTURE.md "Search and indexes").
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.search import SearchVector
from django.contrib.postgres.indexes import GinIndex
from django.db.models import Index

# The text search configuration of every stored vector and every query against it: they must agree.
SEARCH_CONFIG = "english"


class StoredSearchVector(SearchVector):
    """``to_tsvector('english', …)`` for a ``GeneratedField``; NULL on other databases (no text search there)."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:
        return "NULL", []


class SearchIndex(GinIndex):
    """A GIN index on PostgreSQL; elsewhere a plain index of the same name on the same columns.

    The embedded database has no GIN (nor ``gin_trgm_ops``): there the index is an ordinary one, so
    the same migrations run on both and a table SQLite rebuilds keeps building.
    """

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        return Index(fields=self.fields, name=self.name).create_sql(model, schema_editor, **kwargs)


def trigram_index(*, fields: list[str], name: str) -> SearchIndex:
    """A ``pg_trgm`` GIN index on text ``fields``: it serves ``icontains`` (``ILIKE '%fragment%'``)."""
    return SearchIndex(fields=fields, name=name, opclasses=["gin_trgm_ops"] * len(fields))
