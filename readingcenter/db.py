"""Database rules the application must not be able to break, written once; the ORM's own
SQL for statements it cannot express whole (``insert_sql``); and how our connections read
timestamps (``load_timestamps_in_c``)."""

from __future__ import annotations

import datetime as dt
import functools

from django.db import migrations


def forbid_row_changes(table: str, message: str) -> migrations.RunSQL:
    """A trigger that makes the database itself refuse UPDATE and DELETE on ``table``.

    For records whose worth is that nobody can rewrite them (the audit trail, what the AI
    said). TRUNCATE, a table-level operation used only by test teardown and by an operator's
    deliberate retention job, is not a row change and stays possible.
    """
    function, trigger = f"{table}_forbid_change", f"{table}_no_row_changes"
    return migrations.RunSQL(
        f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '{message}: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$ LANGUAGE plpgsql;

        CREATE TRIGGER {trigger}
            BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {function}();
        """,
        f"""
        DROP TRIGGER IF EXISTS {trigger} ON {table};
        DROP FUNCTION IF EXISTS {function}();
        """,
    )


def forbid_changes_once(table: str, column: str, value: str, message: str) -> migrations.RunSQL:
    """A trigger that freezes a row of ``table`` once ``column`` holds ``value``.

    For records that are writable while being prepared and never after (a signed report):
    the row that reached ``value`` can be neither updated nor deleted, by the application or
    anyone else with a plain SQL connection. The transition itself (draft -> signed) is an
    UPDATE of a row that did not yet hold the value, and passes.
    """
    function, trigger = f"{table}_freeze_{column}", f"{table}_frozen_once_{column}"
    return migrations.RunSQL(
        f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
        BEGIN
            IF OLD.{column} = '{value}' THEN
                RAISE EXCEPTION '{message}: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;

        CREATE TRIGGER {trigger}
            BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {function}();
        """,
        f"""
        DROP TRIGGER IF EXISTS {trigger} ON {table};
        DROP FUNCTION IF EXISTS {function}();
        """,
    )


def insert_sql(objects: list) -> tuple[str, list]:
    """The INSERT that ``bulk_create`` would run for these unsaved objects of one model, as SQL
    and parameters, to be made part of a larger statement (a data-modifying WITH clause).

    Django's own compiler builds it, so defaults, ``auto_now_add`` and field conversions (JSON,
    time zones) are as ``bulk_create`` has them.
    """
    from django.db import connection
    from django.db.models.sql import InsertQuery

    model = type(objects[0])
    fields = [f for f in model._meta.concrete_fields if f is not model._meta.auto_field]
    query = InsertQuery(model)
    query.insert_values(fields, objects)
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def update_sql(queryset, values: dict) -> tuple[str, list]:
    """The UPDATE that ``queryset.update(**values)`` would run, as SQL and parameters, to carry
    a data-modifying WITH clause (an audit row written by the same statement)."""
    from django.db import connections
    from django.db.models.sql import UpdateQuery

    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(connection=connections[queryset.db]).as_sql()
    return sql, list(params)


def _c_timestamptz_loader():
    """psycopg's compiled timestamptz loader, or None where only its Python one is installed."""
    try:
        from psycopg_binary._psycopg import TimestamptzLoader
    except ImportError:
        return None
    return TimestamptzLoader


def load_timestamps_in_c(sender, connection, **kwargs) -> None:
    """Read this connection's timestamptz values with psycopg's compiled loader.

    Django installs a Python loader for them (``psycopg_any.BaseTzLoader``: psycopg's pure-Python
    parser, then ``replace(tzinfo=connection.timezone)``) even where psycopg's compiled one is
    installed: 5.8 us a value against 0.3 us here, and a worklist page reads about 180 of them
    (1.0-1.2 ms of its 11-12 ms, README "The worklist and the viewer"). The compiled loader gives
    each value in the session's TimeZone, which Django has just set to the connection's
    (``ensure_timezone``, before ``connection_created``); so it is used only where both are UTC
    and the values are the same objects Django's loader would make. Elsewhere Django's stays.
    """
    if connection.vendor != "postgresql" or connection.timezone is not dt.UTC:
        return
    native = _c_timestamptz_loader()
    conn = connection.connection
    if native is None or conn.info.parameter_status("TimeZone") != "UTC":
        return
    conn.adapters.register_loader("timestamptz", _utc_loader_class(native))


@functools.cache
def _utc_loader_class(native):
    from psycopg.adapt import Loader

    class UtcTimestamptzLoader(Loader):
        # Django's create_cursor compares this with connection.timezone and, where they differ,
        # puts its own loader back on the cursor.
        timezone = dt.UTC

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            # The compiled loader's bound method as this instance's ``load``: psycopg calls it
            # for each value with no Python frame of ours in between.
            self.load = native(oid, context).load

        def load(self, data):  # replaced per instance above; a Loader must define it
            raise NotImplementedError

    return UtcTimestamptzLoader
