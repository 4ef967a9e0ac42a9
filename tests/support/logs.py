"""Reading the services' JSON-lines logs by field: tests match the `event` a record carries
(common.jsonlog.event), never the wording of its message."""

from __future__ import annotations

import json


def records(text: str) -> list[dict]:
    """Every JSON record in a log; other lines (a server's banner, a crash) are skipped."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def events(text: str, name: str, **fields: object) -> list[dict]:
    """The records of event `name` whose fields have these values."""
    return [
        record
        for record in records(text)
        if record.get("event") == name
        and all(record.get(key) == value for key, value in fields.items())
    ]
