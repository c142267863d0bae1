"""Our connections read timestamptz with psycopg's compiled loader, to the same values Django's
Python loader gives (``readingcenter.db.load_timestamps_in_c``)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, connections
from django.db.backends.postgresql.psycopg_any import get_adapters_template
from psycopg import postgres
from psycopg.pq import Format

from readingcenter.db import load_timestamps_in_c

pytestmark = pytest.mark.django_db

TIMESTAMPTZ = postgres.types["timestamptz"].oid
# Written in other zones and precisions, at the ends of PostgreSQL's range and across a DST
# change: what the loader must turn into the same instants, in UTC.
LITERALS = [
    "2026-12-07 22:41:13.123456+00",
    "2026-03-29 01:30:00.5+09",
    "2026-10-25 02:30:00-04:30",
    "1900-01-01 00:00:00+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
]


def _loader_of(conn):
    return conn.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)


def _django_loader(conn):
    """The loader Django would have left on this connection."""
    template = get_adapters_template(True, dt.UTC)
    return template.get_loader(TIMESTAMPTZ, Format.TEXT)(TIMESTAMPTZ, conn)


def test_a_connection_reads_timestamps_with_the_compiled_loader():
    connection.ensure_connection()
    loader = _loader_of(connection.connection)
    assert loader.__name__ == "UtcTimestamptzLoader"
    # Django's create_cursor keeps it only while this matches the connection's time zone.
    assert loader.timezone is connection.timezone is dt.UTC
    with connection.cursor() as cursor:
        assert type(cursor.cursor.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)) is type(loader)


def test_the_values_are_those_djangos_loader_gives():
    select = ", ".join(
        f"'{literal}'::timestamptz, '{literal}'::timestamptz::text" for literal in LITERALS
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select}")
        row = cursor.fetchone()
    django = _django_loader(connection.connection)
    for loaded, text in zip(row[::2], row[1::2], strict=True):
        expected = django.load(text.encode())
        assert loaded == expected
        assert (loaded.tzinfo, loaded.microsecond) == (dt.UTC, expected.microsecond)
    assert row[2] == dt.datetime(2026, 3, 28, 16, 30, 0, 500000, tzinfo=dt.UTC)


def test_a_time_given_in_another_zone_comes_back_the_same_instant_in_utc():
    seoul = dt.timezone(dt.timedelta(hours=9))
    at = dt.datetime(2026, 12, 8, 7, 5, 9, 654321, tzinfo=seoul)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE stamped (at timestamptz)")
        cursor.execute("INSERT INTO stamped VALUES (%s)", [at])
        cursor.execute("SELECT at FROM stamped")
        (read,) = cursor.fetchone()
    assert read == at
    assert (read.tzinfo, read.hour, read.microsecond) == (dt.UTC, 22, 654321)


def test_a_session_in_another_time_zone_keeps_djangos_loader():
    """The compiled loader would give values in the session's zone: where that is not UTC (an
    operator's SET TIME ZONE before the hook ran), Django's loader stays."""
    other = connections.create_connection("default")
    try:
        other.ensure_connection()
        raw = other.connection
        with raw.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'Asia/Seoul'")
        before = _loader_of(raw)
        raw.adapters.register_loader("timestamptz", type(_django_loader(raw)))
        django = _loader_of(raw)
        load_timestamps_in_c(sender=type(other), connection=other)
        assert _loader_of(raw) is django
        assert before.__name__ == "UtcTimestamptzLoader"  # what connecting had put there
    finally:
        other.close()
