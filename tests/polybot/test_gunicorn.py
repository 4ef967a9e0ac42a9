"""polybot under gunicorn, as deployed: real worker processes, config from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
import requests

from tests.support.emulator import TEST_TOKEN, running_emulator
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_gunicorn_serves_create_app(moto_server):
    session = boto3.session.Session(region_name="us-east-1")
    suffix = uuid.uuid4().hex[:10]
    secret = session.client("secretsmanager", endpoint_url=moto_server).create_secret(
        Name=f"polybot/gunicorn-{suffix}", SecretString=TEST_TOKEN
    )["ARN"]
    port = free_port()
    with running_emulator() as emulator:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": moto_server,
            "IMAGES_BUCKET": f"polybot-gunicorn-{suffix}",
            "JOBS_QUEUE_URL": f"{moto_server}/123456789012/polybot-gunicorn-{suffix}",
            "PREDICTIONS_TABLE": f"polybot-gunicorn-{suffix}",
            "TELEGRAM_TOKEN_SECRET_ID": secret,
            "TELEGRAM_API_URL": emulator.base_url,
            "POLYBOT_PORT": str(port),
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "2",
        }
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "polybot/gunicorn.conf.py",
            "polybot.app:create_app()",
        ]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        try:
            status = None
            for _ in range(150):
                try:
                    status = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
                    break
                except requests.ConnectionError:
                    if proc.poll() is not None:
                        break
                    time.sleep(0.2)
            assert status == 200
            # The resources were never created: readiness says so instead of crashing.
            ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=60)
            assert ready.status_code == 503
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
    assert TEST_TOKEN not in err
    assert proc.returncode == 0, err[-2000:]
