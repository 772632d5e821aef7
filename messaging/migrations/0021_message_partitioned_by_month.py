"""PostgreSQL: ``messaging_message`` becomes a table range-partitioned by ``created_at`` month.

docs/ARCHITECTURE.md "Partitioning texts by month". The table is rebuilt in this migration's
transaction, under an exclusive lock: the old one renamed aside, a partitioned one created like it
(columns, defaults, the generated ``search``, checks, the identity continuing the old id sequence),
its primary key ``(id, created_at)`` (Django's model keeps ``id`` as its pk: it only ever looks rows
up by id), the foreign keys from texts and every non-unique index recreated on the parent
(PostgreSQL puts them on each partition), a DEFAULT partition, a partition for each month from the
oldest text to three months ahead, the rows copied, the other triggers (the outbox ledger's)
recreated, the old table dropped. Fine for a demo or test database; a large one takes the online
path in the architecture document.

The three unique constraints that cannot include ``created_at`` without saying less (a SID twice in
two months would pass) move to side tables written by a trigger in the same statement as the text,
under the same constraint names; plain indexes keep the lookups they served. The keys pointing at
texts lost their database constraint in 0020 and workflows 0005 (PostgreSQL cannot reference ``id``
alone). SQLite is untouched. Reversible: the reverse rebuilds one plain table with the constraints.
"""

from django.db import migrations

OLD = "messaging_message_unpartitioned"

KEYS = """
CREATE TABLE messaging_message_sid (
    provider_sid varchar(64) NOT NULL CONSTRAINT message_provider_sid_unique PRIMARY KEY,
    message_id bigint NOT NULL
);
--
CREATE TABLE messaging_message_idempotency_key (
    organization_id bigint NOT NULL,
    idempotency_key varchar(255) NOT NULL,
    message_id bigint NOT NULL,
    CONSTRAINT message_idempotency_key_unique_per_org PRIMARY KEY (organization_id, idempotency_key)
);
--
CREATE TABLE messaging_message_confirms_event (
    confirms_event_id bigint NOT NULL CONSTRAINT messaging_message_confirms_event_id_key PRIMARY KEY,
    message_id bigint NOT NULL
);
--
CREATE FUNCTION messaging_message_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.provider_sid IS NOT NULL THEN
            DELETE FROM messaging_message_sid WHERE provider_sid = OLD.provider_sid AND message_id = OLD.id;
        END IF;
        IF OLD.idempotency_key IS NOT NULL THEN
            DELETE FROM messaging_message_idempotency_key WHERE organization_id = OLD.organization_id
                AND idempotency_key = OLD.idempotency_key AND message_id = OLD.id;
        END IF;
        IF OLD.confirms_event_id IS NOT NULL THEN
            DELETE FROM messaging_message_confirms_event
                WHERE confirms_event_id = OLD.confirms_event_id AND message_id = OLD.id;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.provider_sid IS NOT NULL THEN
            INSERT INTO messaging_message_sid VALUES (NEW.provider_sid, NEW.id);
        END IF;
        IF NEW.idempotency_key IS NOT NULL THEN
            INSERT INTO messaging_message_idempotency_key VALUES (NEW.organization_id, NEW.idempotency_key, NEW.id);
        END IF;
        IF NEW.confirms_event_id IS NOT NULL THEN
            INSERT INTO messaging_message_confirms_event VALUES (NEW.confirms_event_id, NEW.id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
--
CREATE TRIGGER message_keys_insert AFTER INSERT ON messaging_message FOR EACH ROW
    WHEN (NEW.provider_sid IS NOT NULL OR NEW.idempotency_key IS NOT NULL OR NEW.confirms_event_id IS NOT NULL)
    EXECUTE FUNCTION messaging_message_keys();
--
CREATE TRIGGER message_keys_update AFTER UPDATE ON messaging_message FOR EACH ROW
    WHEN (OLD.provider_sid IS DISTINCT FROM NEW.provider_sid
          OR OLD.idempotency_key IS DISTINCT FROM NEW.idempotency_key
          OR OLD.organization_id IS DISTINCT FROM NEW.organization_id
          OR OLD.confirms_event_id IS DISTINCT FROM NEW.confirms_event_id
          OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION messaging_message_keys();
--
CREATE TRIGGER message_keys_delete AFTER DELETE ON messaging_message FOR EACH ROW
    WHEN (OLD.provider_sid IS NOT NULL OR OLD.idempotency_key IS NOT NULL OR OLD.confirms_event_id IS NOT NULL)
    EXECUTE FUNCTION messaging_message_keys();
--
CREATE FUNCTION messaging_message_keys_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE messaging_message_sid, messaging_message_idempotency_key, messaging_message_confirms_event;
    RETURN NULL;
END
$$;
--
CREATE TRIGGER message_keys_truncate AFTER TRUNCATE ON messaging_message FOR EACH STATEMENT
    EXECUTE FUNCTION messaging_message_keys_truncate()
"""

# The lookups the unique indexes served (a status callback's SID, an Idempotency-Key replay, a ledger
# event's confirmation), as plain indexes on the parent: one probe per month partition.
LOOKUPS = """
CREATE INDEX message_provider_sid ON messaging_message (provider_sid);
--
CREATE INDEX message_idempotency_key ON messaging_message (organization_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
--
CREATE INDEX message_confirms_event ON messaging_message (confirms_event_id) WHERE confirms_event_id IS NOT NULL
"""

# What the reverse puts back: the unique constraints on the one table.
UNIQUE = """
ALTER TABLE messaging_message ADD CONSTRAINT message_provider_sid_unique UNIQUE (provider_sid);
--
CREATE UNIQUE INDEX message_idempotency_key_unique_per_org ON messaging_message (organization_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
--
ALTER TABLE messaging_message ADD CONSTRAINT messaging_message_confirms_event_id_key UNIQUE (confirms_event_id)
"""
KEY_TABLES_GONE = "DROP TABLE messaging_message_sid, messaging_message_idempotency_key, messaging_message_confirms_event"
KEY_FUNCTIONS_GONE = "DROP FUNCTION messaging_message_keys, messaging_message_keys_truncate"
LOOKUPS_ONLY_PARTITIONED = ("message_provider_sid", "message_idempotency_key", "message_confirms_event")
OWN_TRIGGERS = ("message_keys_insert", "message_keys_update", "message_keys_delete", "message_keys_truncate")


def _run(cursor, sql: str) -> None:
    for statement in sql.split("\n--\n"):
        cursor.execute(statement.strip())


def _rows(cursor, sql: str, params=None) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


def _definitions(cursor) -> dict:
    """What the rebuilt table gets again: triggers, foreign keys from it, non-unique indexes (their
    SQL as PostgreSQL writes it), and the columns to copy."""
    table = "'messaging_message'::regclass"
    own = ", ".join(f"'{name}'" for name in OWN_TRIGGERS)
    return {
        "triggers": [
            r[0]
            for r in _rows(
                cursor,
                f"SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = {table} AND NOT tgisinternal "
                f"AND tgparentid = 0 AND tgname NOT IN ({own}) ORDER BY tgname",
            )
        ],
        "foreign_keys": _rows(
            cursor,
            f"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = {table} AND contype = 'f'",
        ),
        "indexes": _rows(
            cursor,
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'messaging_message' AND indexname NOT IN "
            f"(SELECT conname FROM pg_constraint WHERE conrelid = {table}) ORDER BY indexname",
        ),
        "columns": [
            r[0]
            for r in _rows(
                cursor,
                f"SELECT attname FROM pg_attribute WHERE attrelid = {table} AND attnum > 0 AND NOT attisdropped "
                "AND attgenerated = '' ORDER BY attnum",
            )
        ],
        "references": _rows(
            cursor, f"SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE confrelid = {table}"
        ),
    }


def _set_aside(cursor, found: dict) -> None:
    """The old table renamed, stripped of every name the new one takes (indexes, constraints, sequence)."""
    for table, name in found["references"]:  # none after 0020 and workflows 0005; any other would fail
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    (sequence,) = _rows(cursor, "SELECT pg_get_serial_sequence('messaging_message', 'id')")[0]
    cursor.execute(f"ALTER TABLE messaging_message RENAME TO {OLD}")
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {OLD}_id_seq")
    for name, _ in found["indexes"]:
        cursor.execute(f'DROP INDEX "{name}"')
    for (name,) in _rows(
        cursor, f"SELECT conname FROM pg_constraint WHERE conrelid = '{OLD}'::regclass AND contype IN ('p', 'u')"
    ):
        cursor.execute(f'ALTER TABLE {OLD} DROP CONSTRAINT "{name}"')


def _create(cursor, found: dict, *, partitioned: bool) -> None:
    """The new ``messaging_message`` like the old, without rows."""
    partition_by = " PARTITION BY RANGE (created_at)" if partitioned else ""
    cursor.execute(
        f"CREATE TABLE messaging_message (LIKE {OLD} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING IDENTITY "
        f"INCLUDING CONSTRAINTS INCLUDING STORAGE){partition_by}"
    )
    key = "id, created_at" if partitioned else "id"
    cursor.execute(f"ALTER TABLE messaging_message ADD CONSTRAINT messaging_message_pkey PRIMARY KEY ({key})")
    for name, definition in found["foreign_keys"]:
        cursor.execute(f'ALTER TABLE messaging_message ADD CONSTRAINT "{name}" {definition}')
    for name, definition in found["indexes"]:
        if name.endswith("_unique_per_org") or (not partitioned and name in LOOKUPS_ONLY_PARTITIONED):
            continue  # the unique index goes to its side table (forward); the lookups were for those (reverse)
        cursor.execute(definition)


def _partitions(cursor, connection) -> None:
    from messaging.partitions import DEFAULT, indexes_name, message_partitions_ensure

    cursor.execute(f"CREATE TABLE {DEFAULT} PARTITION OF messaging_message DEFAULT")
    indexes_name(cursor, DEFAULT)
    ((oldest,),) = _rows(cursor, f"SELECT min(created_at) FROM {OLD}")
    message_partitions_ensure(since=oldest, using=connection.alias)


def _fill(cursor, found: dict) -> None:
    """The rows copied (the side tables' trigger checks each key), the id sequence carried on, the
    other triggers recreated (after the copy: the outbox ledger must not count the texts twice)."""
    columns = ", ".join(f'"{c}"' for c in found["columns"])
    cursor.execute(f"INSERT INTO messaging_message ({columns}) SELECT {columns} FROM {OLD}")
    ((last, called),) = _rows(cursor, f"SELECT last_value, is_called FROM {OLD}_id_seq")
    cursor.execute("SELECT setval(pg_get_serial_sequence('messaging_message', 'id'), %s, %s)", [last, called])
    for definition in found["triggers"]:
        cursor.execute(definition)
    cursor.execute(f"DROP TABLE {OLD}")
    ((sequence,),) = _rows(cursor, "SELECT pg_get_serial_sequence('messaging_message', 'id')")
    if sequence.split(".")[-1] != "messaging_message_id_seq":
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO messaging_message_id_seq")
    cursor.execute("ANALYZE messaging_message")


def partition(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE messaging_message IN ACCESS EXCLUSIVE MODE")
        found = _definitions(cursor)
        _set_aside(cursor, found)
        _create(cursor, found, partitioned=True)
        _run(cursor, LOOKUPS)
        _partitions(cursor, connection)
        _run(cursor, KEYS)
        _fill(cursor, found)


def unpartition(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE messaging_message IN ACCESS EXCLUSIVE MODE")
        found = _definitions(cursor)
        _set_aside(cursor, found)
        cursor.execute(KEY_TABLES_GONE)  # their constraint names go back to the table
        _create(cursor, found, partitioned=False)
        _run(cursor, UNIQUE)
        _fill(cursor, found)
        cursor.execute(KEY_FUNCTIONS_GONE)  # their triggers went with the partitioned table


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0020_references_to_texts_without_constraint"),
        # Every key pointing at a text has lost its constraint first (a fresh database creates
        # workflows' tables before this runs): PostgreSQL cannot reference a partitioned ``id``.
        ("workflows", "0005_message_reference_without_constraint"),
    ]

    operations = [migrations.RunPython(partition, unpartition)]
