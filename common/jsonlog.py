"""JSON-lines logging for both services, with optional shipping to CloudWatch Logs.

Log records carry the ids of what is being worked on (update_id, chat_id, prediction_id)
from a context variable, so a handler deep in the call stack does not have to pass them
around; every record worth finding carries an `event` name and fields of its own (event()).
Registered secrets are masked in every record before it is formatted, as a last line of
defence: code should never log a secret in the first place.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import socket
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_context", default=None)
_secrets: set[str] = set()
CONTEXT_KEYS = ("update_id", "chat_id", "prediction_id", "message_id")


@contextlib.contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Attach ids to every log record emitted inside the block."""
    token = _context.set(
        {**(_context.get() or {}), **{k: v for k, v in ids.items() if v is not None}}
    )
    try:
        yield
    finally:
        _context.reset(token)


def event(name: str, **fields: object) -> dict:
    """`extra=` for a log call: a stable event name and its data as fields of their own, so
    tests, Logs Insights queries and metric filters match {"event": "prediction.done"} rather
    than the wording of the message, which is for people and free to change."""
    return {"event": name, "fields": fields}


def register_secret(value: str) -> None:
    """Mask this value wherever it would appear in a log line."""
    if value and len(value) >= 8:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_context.get() or {})
        for key in (*CONTEXT_KEYS, "event"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        for key, value in getattr(record, "fields", {}).items():
            entry.setdefault(key, value)  # never over the record's own keys
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def read_records(lines: Iterable[str], name: str | None = None) -> Iterator[dict]:
    """The records JsonFormatter wrote, parsed back, only those of event `name` when given.
    A line may carry a prefix before the record (honcho's "12:00:01 yolo5.1 | "); lines that
    hold no record (a banner, a traceback) are skipped. Readers of log files use this, not
    text matching."""
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(record, dict) and (name is None or record.get("event") == name):
            yield record


def configure_logging(
    service: str,
    level: str = "INFO",
    log_group: str | None = None,
    logs_client: object | None = None,
    stream: object | None = None,
) -> None:
    """Log JSON lines to stderr and, when a log group is given, to CloudWatch Logs.

    CloudWatch being unreachable must never take the service down, so the watchtower
    handler is best-effort: creation failures are reported on stderr and skipped.
    """
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        if getattr(handler, "_polybot_owned", False):
            root.removeHandler(handler)
    formatter = JsonFormatter(service)
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(formatter)
    console._polybot_owned = True  # type: ignore[attr-defined]
    root.addHandler(console)
    # Keep third-party chatter (and any URL that carries the bot token) out of the logs.
    for noisy in ("botocore", "boto3", "urllib3", "TeleBot", "s3transfer", "watchtower"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if log_group:
        _add_cloudwatch(root, formatter, service, log_group, logs_client)


def _add_cloudwatch(root, formatter, service, log_group, logs_client) -> None:
    try:
        import watchtower

        handler = watchtower.CloudWatchLogHandler(
            log_group_name=log_group,
            log_stream_name=f"{service}/{socket.gethostname()}",
            boto3_client=logs_client,
            create_log_group=False,
            send_interval=5,
        )
    except Exception as exc:  # noqa: BLE001 - any failure here must not stop the service
        logging.getLogger(__name__).warning("CloudWatch logging disabled: %s", type(exc).__name__)
        return
    handler.setFormatter(formatter)
    handler._polybot_owned = True  # type: ignore[attr-defined]
    root.addHandler(handler)
