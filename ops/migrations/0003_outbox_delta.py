"""The outbox's totals kept up to date from a ledger of changes instead of a recount of every text.

PostgreSQL: a trigger on ``messaging_message`` writes ``ops_outboxdelta`` rows (see ``OutboxDelta``),
and the totals counted before it existed are dropped, so the next ``outbox_tally`` counts once from
scratch (in the statement that empties the ledger) and adds changes from then on. SQLite (``make run``)
has no trigger: the tally counts the texts each run, as it did.
"""

from django.db import migrations, models

TRIGGER = """
CREATE FUNCTION ops_outbox_delta() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.direction = 'outbound' THEN
        INSERT INTO ops_outboxdelta (status, error_code, texts, queued, sent)
        VALUES (OLD.status, OLD.error_code, -1, -((OLD.queued_at IS NOT NULL)::int), -((OLD.sent_at IS NOT NULL)::int));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.direction = 'outbound' THEN
        INSERT INTO ops_outboxdelta (status, error_code, texts, queued, sent)
        VALUES (NEW.status, NEW.error_code, 1, (NEW.queued_at IS NOT NULL)::int, (NEW.sent_at IS NOT NULL)::int);
    END IF;
    RETURN NULL;
END
$$;
--
CREATE TRIGGER message_outbox_delta AFTER INSERT OR DELETE ON messaging_message
    FOR EACH ROW EXECUTE FUNCTION ops_outbox_delta();
--
CREATE TRIGGER message_outbox_delta_update AFTER UPDATE ON messaging_message
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.error_code IS DISTINCT FROM NEW.error_code
        OR OLD.direction IS DISTINCT FROM NEW.direction
        OR (OLD.queued_at IS NULL) <> (NEW.queued_at IS NULL)
        OR (OLD.sent_at IS NULL) <> (NEW.sent_at IS NULL)
    ) EXECUTE FUNCTION ops_outbox_delta();
--
DELETE FROM ops_outboxtally;
"""

DROP_TRIGGER = """
DROP TRIGGER message_outbox_delta_update ON messaging_message;
--
DROP TRIGGER message_outbox_delta ON messaging_message;
--
DROP FUNCTION ops_outbox_delta();
--
DELETE FROM ops_outboxtally;
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in sql.split("\n--\n"):
                schema_editor.execute(statement.strip(), params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0002_outbox_tally"),
        ("messaging", "0011_message_named_indexes_and_body_search"),
    ]

    operations = [
        migrations.CreateModel(
            name="OutboxDelta",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("status", models.CharField(max_length=24)),
                ("error_code", models.CharField(blank=True, max_length=32)),
                ("texts", models.IntegerField()),
                ("queued", models.IntegerField()),
                ("sent", models.IntegerField()),
            ],
        ),
        migrations.RunPython(_on_postgresql(TRIGGER), _on_postgresql(DROP_TRIGGER)),
    ]
