"""Sources: a database through a SQLAlchemy URL (SQLite and PostgreSQL), read-only and
streamed; columns checked before anything is read."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from hitmachine_adapter.errors import AdapterUsageError
from hitmachine_adapter.mapping import load_mapping
from hitmachine_adapter.rows import RowReader
from hitmachine_adapter.source import open_source
from hitmachine_adapter.sql_source import SqlSource


def _clients(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM client")).scalar_one())
    engine.dispose()
    return count


def test_a_database_source_streams_the_mappings_query(source_db: str) -> None:
    mapping = load_mapping("reclassering")
    source = open_source(source_db, mapping)
    assert isinstance(source, SqlSource)
    assert "password" not in source.description
    rows = source.rows()
    first = next(rows)
    assert (first[0], first[1], source.position()) == (1, None, 1)
    rest = list(rows)
    assert source.position() == 1 + len(rest) >= 30
    reader = RowReader(mapping)
    people = [reader.read(values) for _, _, values in [first, *rest]
              if values[4] is not None]        # the sample's one row without a birth date
    # A DATE column arrives as a date on PostgreSQL, as ISO text on SQLite: both read.
    assert all(isinstance(p.date_of_birth, dt.date) for p in people)   # type: ignore[attr-defined]


def test_a_database_source_cannot_write(source_db: str) -> None:
    before = _clients(source_db)
    writing = replace(load_mapping("reclassering"), query="DELETE FROM client RETURNING id AS "
                      "bsn, id AS voornamen, id AS tussenvoegsel, id AS achternaam, "
                      "id AS geboortedatum")
    with pytest.raises(AdapterUsageError, match="the mapping's query failed"):
        list(open_source(source_db, writing).rows())
    assert _clients(source_db) == before


def test_a_query_without_a_needed_column_names_it(source_db: str) -> None:
    lacking = replace(load_mapping("reclassering"),
                      query="SELECT bsn, voornamen, achternaam, geboortedatum FROM client")
    with pytest.raises(AdapterUsageError, match=r"lacks column.*tussenvoegsel"):
        open_source(source_db, lacking)


def test_a_file_mapping_with_a_database_url_is_a_usage_error(source_db: str) -> None:
    with pytest.raises(AdapterUsageError, match="describes a csv file"):
        open_source(source_db, load_mapping("om"))
