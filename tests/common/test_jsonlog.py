import io
import json
import logging

import pytest

from common import jsonlog


@pytest.fixture
def captured():
    out = io.StringIO()
    jsonlog.configure_logging("test-service", stream=out)
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    for handler in list(logging.getLogger().handlers):
        if getattr(handler, "_polybot_owned", False):
            logging.getLogger().removeHandler(handler)


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
