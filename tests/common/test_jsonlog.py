import io
import json
import logging
import threading
import warnings

import pytest

from common import jsonlog
from common.jsonlog import JsonFormatter, event, read_records


def _levels() -> dict[logging.Logger, int]:
    loggers = [logging.getLogger(), *logging.getLogger().manager.loggerDict.values()]
    return {log: log.level for log in loggers if isinstance(log, logging.Logger)}


@pytest.fixture(autouse=True)
def logging_left_as_found():
    """configure_logging changes process-wide state; every test here must put it back: the
    root logger's handlers and every logger's level as before, and no thread left running
    (a watchtower handler ships from its own thread, and one left on the root logger would
    try its broken client on every later test's records, and again at exit)."""
    root = logging.getLogger()
    handlers, levels = list(root.handlers), _levels()
    threads = set(threading.enumerate())
    yield
    assert root.handlers == handlers
    assert {log: level for log, level in _levels().items() if log in levels} == levels
    for thread in set(threading.enumerate()) - threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), f"{thread.name} left running"


@pytest.fixture
def captured():
    """JSON logging into a buffer; afterwards every handler it (or the test) added is closed
    and removed, and the levels it set are restored."""
    root = logging.getLogger()
    handlers, levels = list(root.handlers), _levels()
    out = io.StringIO()
    jsonlog.configure_logging("test-service", stream=out)
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a broken CloudWatch client's failed last flush
            handler.close()
    # configure_logging replaces the JSON handler an earlier configuration (another module's
    # app) left on the root logger: that one goes back, in its place.
    root.handlers[:] = handlers
    for log, level in levels.items():
        log.setLevel(level)


def test_lines_are_json_with_context_ids(captured):
    log = logging.getLogger("polybot.test")
    with jsonlog.log_context(update_id=5, chat_id=42), jsonlog.log_context(prediction_id="p-1"):
        log.info("hello %s", "world")
    log.info("outside")
    first, second = captured()
    assert first["msg"] == "hello world"
    assert (first["update_id"], first["chat_id"], first["prediction_id"]) == (5, 42, "p-1")
    assert first["service"] == "test-service"
    assert "chat_id" not in second


def test_registered_secrets_are_masked_even_in_tracebacks(captured):
    secret = "123456789:AAE-super-secret-token"
    jsonlog.register_secret(secret)
    log = logging.getLogger("polybot.test")
    try:
        raise RuntimeError(f"https://api.telegram.org/bot{secret}/getMe failed")
    except RuntimeError:
        log.exception("call failed for %s", secret)
    (line,) = captured()
    assert secret not in json.dumps(line)
    assert "***" in line["msg"] and "***" in line["exc"]


def test_unreachable_cloudwatch_does_not_break_logging(captured):
    class BrokenClient:
        def __getattr__(self, name):
            raise ConnectionError("no route to CloudWatch")

    out = io.StringIO()
    jsonlog.configure_logging("test-service", log_group="g", logs_client=BrokenClient(), stream=out)
    logging.getLogger("polybot.test").warning("still logging")
    assert any(json.loads(line)["msg"] == "still logging" for line in out.getvalue().splitlines())


def test_an_event_carries_its_name_and_fields_but_never_over_the_record_keys(captured):
    log = logging.getLogger("yolo5.test")
    with jsonlog.log_context(prediction_id="p-2"):
        log.info(
            "prediction done: %s",
            {"bus": 1},
            extra=jsonlog.event(
                "prediction.done", counts={"bus": 1}, msg="not this", prediction_id="nor this"
            ),
        )
    (line,) = captured()
    assert line["event"] == "prediction.done"
    assert line["counts"] == {"bus": 1}
    assert (line["msg"], line["prediction_id"]) == ("prediction done: {'bus': 1}", "p-2")


def test_read_records_parses_what_the_formatter_wrote_and_skips_the_rest():
    formatter = JsonFormatter("yolo5")
    record = logging.LogRecord("w", logging.INFO, __file__, 1, "done", None, None)
    record.__dict__.update(event("prediction.done", timings={"inference_cpu_ms": 41.5}))
    other = logging.LogRecord("w", logging.INFO, __file__, 1, "hi", None, None)
    other.__dict__.update(event("worker.ready"))
    prefixed = f"12:00:01 yolo5.1 | {formatter.format(other)}"  # as honcho writes it
    lines = [formatter.format(record), "Traceback (not JSON)", prefixed, "[1]", "a {b"]
    assert [r["event"] for r in read_records(lines)] == ["prediction.done", "worker.ready"]
    (done,) = read_records(lines, "prediction.done")
    assert done["timings"] == {"inference_cpu_ms": 41.5}
