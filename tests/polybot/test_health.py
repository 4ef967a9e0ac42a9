from __future__ import annotations

from dataclasses import replace

from polybot.app import create_app


def test_healthz_calls_nothing(settings, clients, bot):
    broken = replace(clients, s3=None, sqs=None, table=None)
    response = create_app(settings, broken).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": "unknown"}
    assert bot.calls == []


def test_healthz_names_the_commit_the_image_was_built_from(settings, clients):
    sha = "1a2b3c4d" * 5
    app = create_app(replace(settings, version=sha), clients)

    response = app.test_client().get("/healthz")

    assert response.status_code == 200
    # Exactly these keys, in this order: the ALB, the hooks and the rehearsal read them.
    assert response.get_data(as_text=True).strip() == f'{{"status":"ok","version":"{sha}"}}'


def test_readyz_ok_when_aws_is_reachable(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"s3": "ok", "sqs": "ok", "dynamodb": "ok"}


def test_readyz_503_names_what_is_missing(settings, client):
    wrong = replace(settings, images_bucket="polybot-no-such-bucket")
    response = create_app(wrong, client.application.extensions["polybot"]["clients"]).test_client()
    body = response.get("/readyz")
    assert body.status_code == 503
    checks = body.get_json()["checks"]
    assert checks["s3"].startswith("error") and checks["sqs"] == "ok"
