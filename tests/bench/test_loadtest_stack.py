"""The no-reply load test against `make up` (the Procfile stack, one real worker), as the
issue's command runs it: AWS_ENDPOINT_URL at the stack's moto server, prefix and region the
stack's, in a child Python that can import only what AWS CloudShell has."""

from __future__ import annotations

import os

import pytest
from boto3.dynamodb.conditions import Attr

from common.contracts import DONE, NO_REPLY_CHAT_ID
from local.config import ROOT
from local.harness import local_stack
from tests.bench.test_loadtest import run_as_in_cloudshell
from tests.support.images import real_weights, sample_image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

JOBS = 6


def test_no_reply_jobs_all_end_done_and_chat_0_gets_nothing(tmp_path):
    with local_stack(tmp_path, workers=1, weights=real_weights()) as stack:
        cfg = stack.cfg
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": cfg.moto_url,
            "AWS_ACCESS_KEY_ID": "local-moto",
            "AWS_SECRET_ACCESS_KEY": "local-moto",  # moto accepts anything
            "PYTHONPATH": str(ROOT),
        }
        argv = [
            *("--target", "aws", "--no-reply", "--prefix", cfg.prefix, "--region", cfg.region),
            *("--count", str(JOBS), "--rate", "3", "--interval", "1", "--timeout", "300"),
            *("--photo", str(sample_image("bus.jpg"))),
        ]
        run = run_as_in_cloudshell(argv, env, timeout=600)
        items = stack.table().scan(FilterExpression=Attr("chat_id").eq(NO_REPLY_CHAT_ID))["Items"]
        chat_0 = stack.messages(NO_REPLY_CHAT_ID)
        log = stack.log()

    assert run.returncode == 0, run.stderr[-4000:]
    assert f"offered {JOBS}  done {JOBS}  failed 0  unfinished 0" in run.stdout, run.stdout
    assert run.stderr.count("watching no worker group") == 1, run.stderr[-3000:]
    assert "group desired – in service –  cpu –" in run.stderr
    assert len(items) == JOBS
    assert {i["status"] for i in items} == {DONE}
    assert all(i["reply"] is False and i.get("notified_at") for i in items), items
    assert chat_0 == []
    assert log.count('"event": "answer.no_reply"') == JOBS, log[-4000:]
