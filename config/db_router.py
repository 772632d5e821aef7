"""The database router: reads that may lag to the replica, everything else to the primary.

Installed only when ``DATABASE_REPLICA_URL`` is set (config/settings.py); the decision is
``core.replica.read_alias`` (a read marked ``replica_ok()``, the caller not pinned by a recent
write, no transaction open). Writes always go to the primary; nothing is migrated on the replica
(it is a physical copy of the primary, read-only).
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

from core import replica


class ReplicaRouter:
    def db_for_read(self, model: type, **hints: Any) -> str | None:
        # An explicit "default" rather than None: Django would otherwise read a row's relations from
        # the database the row came from, so a row read on the replica would pull its relations from
        # there too, outside replica_ok().
        return replica.read_alias()

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The replica holds the primary's rows: a row read there may point at one read here.
        aliases = {DEFAULT_DB_ALIAS, replica.REPLICA}
        if obj1._state.db in aliases and obj2._state.db in aliases:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
