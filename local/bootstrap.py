"""Create the local stack's AWS side in the moto server and hand its outputs to the services.

Runs as a Procfile process: wait for moto → deploy the project's own data template
(cloudformation/data.yaml, the same one AWS gets) → create what moto's CloudFormation skips
(the bot-token secret) → write the outputs for the services → wait for polybot → register
the webhook (the one place local mode does it) → mark the stack ready → stay up until
stopped, because honcho stops the whole stack when any process exits.

create_resources() is the same template deployed on its own, under a fresh prefix: the
bucket, table and queues for the tests and benchmarks that run a service without the stack.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import NamedTuple

import boto3
from botocore.exceptions import ClientError

from common.env import env_str
from common.jsonlog import configure_logging, register_secret
from local.config import DATA_TEMPLATE, LocalConfig
from local.servers import wait_for_http

log = logging.getLogger("local.bootstrap")


def stack_name(prefix: str) -> str:
    return f"{prefix}-data"


def deploy_data_stack(
    cloudformation,
    prefix: str,
    visibility_timeout: int | None = None,
    max_receive_count: int | None = None,
) -> dict[str, str]:
    """The data template as stack `<prefix>-data` (kept if it exists); returns its outputs.

    Unset parameters keep the template's defaults (JobVisibilityTimeout >= 30 s).
    """
    given = {
        "Prefix": prefix,
        "JobVisibilityTimeout": visibility_timeout,
        "MaxReceiveCount": max_receive_count,
    }
    parameters = [
        {"ParameterKey": key, "ParameterValue": str(value)}
        for key, value in given.items()
        if value is not None
    ]
    try:
        cloudformation.create_stack(
            StackName=stack_name(prefix),
            TemplateBody=DATA_TEMPLATE.read_text(),
            Parameters=parameters,
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "AlreadyExistsException":
            raise
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=stack_name(prefix), WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    stack = cloudformation.describe_stacks(StackName=stack_name(prefix))["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


class Resources(NamedTuple):
    """What a service is pointed at: the images bucket, the predictions table, the jobs queue."""

    bucket: str
    table: str
    queue_url: str
    dlq_url: str | None = None


def create_resources(
    session,
    prefix: str,
    visibility_timeout: int | None = None,
    max_receive_count: int | None = None,
) -> Resources:
    """Fresh resources from the data template (bucket, table, jobs queue with its DLQ) in moto,
    in-process or a server, named `<prefix>-<8 hex>-...` (prefix: up to 11 of a-z 0-9 -).
    `session` needs only .client(name): a boto3 Session, or one bound to a moto endpoint."""
    outputs = deploy_data_stack(
        session.client("cloudformation"),
        f"{prefix}-{uuid.uuid4().hex[:8]}",
        visibility_timeout,
        max_receive_count,
    )
    return Resources(
        bucket=outputs["ImagesBucketName"],
        table=outputs["PredictionsTableName"],
        queue_url=outputs["JobsQueueUrl"],
        dlq_url=outputs["DeadLetterQueueUrl"],
    )


def ensure_secret(secrets, outputs: dict[str, str], token: str) -> str:
    """Store the token; moto's CloudFormation may skip AWS::SecretsManager::Secret."""
    secret_id = outputs.get("BotTokenSecretArn") or outputs["BotTokenSecretName"]
    try:
        return secrets.put_secret_value(SecretId=secret_id, SecretString=token)["ARN"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    name = outputs["BotTokenSecretName"]
    return secrets.create_secret(Name=name, SecretString=token)["ARN"]


def service_env(cfg: LocalConfig, outputs: dict[str, str], secret_arn: str) -> dict[str, str]:
    return {
        "IMAGES_BUCKET": outputs["ImagesBucketName"],
        "JOBS_QUEUE_URL": outputs["JobsQueueUrl"],
        "PREDICTIONS_TABLE": outputs["PredictionsTableName"],
        "TELEGRAM_TOKEN_SECRET_ID": secret_arn,
        "TELEGRAM_API_URL": cfg.emulator_url,
        "PUBLIC_URL": cfg.polybot_url,
        "POLYBOT_RESULTS_URL": f"{cfg.polybot_url}/results",
    }


def write_env_file(path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{k}={v}\n" for k, v in sorted(values.items())))
    tmp.replace(path)  # atomic: a waiting service never reads half a file


def register_via_subprocess(env: dict[str, str]) -> None:
    """`python -m polybot.register_webhook` on this machine, with the services' env."""
    result = subprocess.run(
        [sys.executable, "-m", "polybot.register_webhook"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"webhook registration failed: {result.stderr.strip()[-500:]}")


def main() -> int:
    configure_logging("bootstrap")
    cfg = LocalConfig.from_env()
    token = env_str("EMULATOR_TOKEN")
    register_secret(token)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        wait_for_http(f"{cfg.moto_url}/moto-api/", 60, "the moto server")
        session = boto3.session.Session(region_name=cfg.region)
        outputs = deploy_data_stack(
            session.client("cloudformation", endpoint_url=cfg.moto_url),
            cfg.prefix,
            cfg.job_visibility_timeout,
        )
        log.info("data stack %s deployed into moto: %s", stack_name(cfg.prefix), sorted(outputs))
        secret_arn = ensure_secret(
            session.client("secretsmanager", endpoint_url=cfg.moto_url), outputs, token
        )
        env = service_env(cfg, outputs, secret_arn)
        write_env_file(cfg.outputs_file, env)
        wait_for_http(f"{cfg.polybot_url}/healthz", 120, "polybot")
        register_via_subprocess(env)
        log.info("webhook registered at %s/telegram/webhook", cfg.polybot_url)
        cfg.ready_file.write_text(f"{cfg.emulator_url}/\n")
    except Exception as exc:  # noqa: BLE001 - report any bootstrap failure in one clear line
        log.error("bootstrap failed: %s: %s", type(exc).__name__, exc)
        return 1
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
