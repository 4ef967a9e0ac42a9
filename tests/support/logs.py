"""Reading the services' JSON-lines logs by field: tests match the `event` a record carries
(common.jsonlog.event), never the wording of its message."""

from __future__ import annotations

from common.jsonlog import read_records


def records(text: str) -> list[dict]:
    """Every JSON record in a log; other lines (a server's banner, a crash) are skipped."""
    return list(read_records(text.splitlines()))


def events(text: str, name: str, **fields: object) -> list[dict]:
    """The records of event `name` whose fields have these values."""
    return [
        record
        for record in records(text)
        if record.get("event") == name
        and all(record.get(key) == value for key, value in fields.items())
    ]
