"""The configuration stamp and the triggers that change it.

On every INSERT, UPDATE or DELETE of a ban, a content filter or a list
template (and TRUNCATE, on PostgreSQL), the one row of
mail_configurationstamp gets a new random stamp, in the same transaction.
See messages.models.ConfigurationStamp.

SQLite drops a table's triggers when a migration rebuilds the table
(Django rebuilds it to alter most columns);
tests/test_list_configuration.py fails if any of them is missing.
"""

from django.db import migrations, models

# The tables whose rows are the configuration the stamp stands for.
TABLES = ("members_ban", "lists_contentfilter", "lists_listtemplate")
STAMP_TABLE = "mail_configurationstamp"

POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION mail_configuration_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {STAMP_TABLE} SET stamp = floor((random() - 0.5) * 1.8e19)::bigint;
    RETURN NULL;
END
$$
"""


def postgresql_trigger(table: str) -> str:
    # Once per statement: a bulk change of many rows changes the stamp once.
    return (
        f"CREATE TRIGGER {table}_configuration_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
        f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION mail_configuration_changed()"
    )


def sqlite_triggers(table: str) -> list[str]:
    # SQLite has row triggers only; random() is a 64-bit signed integer.
    return [
        f"CREATE TRIGGER {table}_{event.lower()}_configuration_changed AFTER {event} ON {table}"
        f" BEGIN UPDATE {STAMP_TABLE} SET stamp = random(); END"
        for event in ("INSERT", "UPDATE", "DELETE")
    ]


def create_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = [POSTGRESQL_FUNCTION, *map(postgresql_trigger, TABLES)]
    elif vendor == "sqlite":
        statements = [statement for table in TABLES for statement in sqlite_triggers(table)]
    else:
        raise NotImplementedError(f"No configuration triggers written for {vendor}")
    for statement in statements:
        schema_editor.execute(statement)
    apps.get_model("mail", "ConfigurationStamp").objects.create(pk=1, stamp=1)


def drop_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER {table}_configuration_changed ON {table}")
        else:
            for event in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER {table}_{event}_configuration_changed")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION mail_configuration_changed()")


class Migration(migrations.Migration):

    dependencies = [
        ("mail", "0004_post_dmarc_mitigation"),
        ("lists", "0007_expired_notice_template"),
        ("members", "0004_held_post_token"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConfigurationStamp",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("stamp", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
