"""Webhook registration: the setWebhook call, and the CLI's exit codes."""

from __future__ import annotations

import pytest

from polybot import register_webhook
from polybot.register_webhook import register
from polybot.telegram import TelegramClient, TelegramRejected
from tests.polybot.fakes import TOKEN, FakeBot, api_error
from tests.support.servers import free_port


def test_register_sends_everything_telegram_needs(tmp_path):
    bot = FakeBot()
    cert = tmp_path / "public.pem"
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    url = register(TelegramClient(bot), "https://bot.example.com/", "s3cr3t", 40, str(cert))
    assert url == "https://bot.example.com/telegram/webhook"
    [call] = bot.sent("set_webhook")
    assert call["url"] == url
    assert call["secret_token"] == "s3cr3t"
    assert call["allowed_updates"] == ["message"]
    assert call["max_connections"] == 40
    assert call["drop_pending_updates"] is False
    assert call["certificate"].name == str(cert)


def test_register_without_certificate(tmp_path):
    bot = FakeBot()
    register(TelegramClient(bot), "https://bot.example.com", "s", 10)
    assert bot.sent("set_webhook")[0]["certificate"] is None


def test_register_raises_when_telegram_refuses():
    bot = FakeBot()
    bot.fail("set_webhook", api_error(400, "Bad Request: bad webhook: HTTPS url must be provided"))
    with pytest.raises(TelegramRejected):
        register(TelegramClient(bot), "https://bot.example.com", "s", 10)


@pytest.fixture
def cli_env(aws, monkeypatch):
    aws.client("secretsmanager").create_secret(Name="polybot/cli-token", SecretString=TOKEN)
    for name, value in {
        "IMAGES_BUCKET": "b",
        "JOBS_QUEUE_URL": "http://q",
        "PREDICTIONS_TABLE": "t",
        "TELEGRAM_TOKEN_SECRET_ID": "polybot/cli-token",
        "PUBLIC_URL": "https://bot.example.com",
        # Nothing listens here: setWebhook fails with a connection error.
        "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}",
    }.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_cli_without_public_url_exits_2(cli_env, capsys):
    cli_env.delenv("PUBLIC_URL")
    assert register_webhook.main() == 2
    assert "PUBLIC_URL" in capsys.readouterr().err


def test_cli_with_a_missing_secret_exits_1(cli_env, capsys):
    cli_env.setenv("TELEGRAM_TOKEN_SECRET_ID", "polybot/no-such-secret")
    assert register_webhook.main() == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err


def test_cli_when_telegram_is_unreachable_exits_1_without_the_token(cli_env, capsys):
    assert register_webhook.main() == 1
    err = capsys.readouterr().err
    assert "setWebhook failed" in err
    assert TOKEN not in err
