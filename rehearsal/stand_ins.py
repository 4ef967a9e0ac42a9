"""The rehearsal's stand-ins for AWS and Telegram: a moto server and the Bot API emulator.

Both listen where the containers can reach them (the podman bridge's gateway), and the AWS
side is made from the project's own data template, as in local mode (local/bootstrap.py).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from local import procfile
from local.bootstrap import deploy_data_stack, ensure_secret
from local.config import ROOT
from local.servers import free_port, wait_for_http

# moto accepts any credentials; these are placeholders, never a developer's real ones.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "rehearsal-moto", "AWS_SECRET_ACCESS_KEY": "rehearsal-moto"}
REPOSITORIES = ("polybot", "yolo5")


@dataclass(frozen=True)
class Aws:
    url: str  # the moto server as the host reaches it
    region: str
    prefix: str
    outputs: dict[str, str]
    secret_arn: str
    repository_uris: dict[str, str]  # service -> ECR repository URI
    log_groups: dict[str, str]  # service -> log group

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    @property
    def registry_host(self) -> str:
        return self.repository_uris["polybot"].split("/", 1)[0]


def _spawn(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def moto(logs: Path, base_env: dict[str, str], prefix: str, region: str) -> Iterator[Aws]:
    port = free_port()
    # 0.0.0.0: the containers reach it at the bridge gateway, which exists only once podman
    # has made its network.
    bridged = procfile.moto_argv(port, "0.0.0.0")  # noqa: S104 - see above
    proc = _spawn(bridged, logs / "moto.log", base_env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/moto-api/", 60, "the moto server")
        session = boto3.session.Session(
            region_name=region,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        outputs = deploy_data_stack(session.client("cloudformation", endpoint_url=url), prefix)
        token = f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}"
        secret_arn = ensure_secret(
            session.client("secretsmanager", endpoint_url=url), outputs, token
        )
        ecr = session.client("ecr", endpoint_url=url)
        uris = {}
        for service in REPOSITORIES:
            # As the pipeline template names them: ${Prefix}/<service>.
            repo = ecr.create_repository(
                repositoryName=f"{prefix}/{service}",
                imageTagMutability="IMMUTABLE",
            )["repository"]
            uris[service] = repo["repositoryUri"]
        logs_client = session.client("logs", endpoint_url=url)
        groups = {}
        for service in REPOSITORIES:
            groups[service] = f"/{prefix}/{service}"
            logs_client.create_log_group(logGroupName=groups[service])
        yield Aws(url, region, prefix, outputs, secret_arn, uris, groups)
    finally:
        _stop(proc)


@dataclass(frozen=True)
class Emulator:
    url: str
    port: int
    token: str


@contextmanager
def emulator(logs: Path, base_env: dict[str, str], aws: Aws) -> Iterator[Emulator]:
    """The emulator, with the bot token that the secret in moto holds."""
    token = aws.client("secretsmanager").get_secret_value(SecretId=aws.secret_arn)["SecretString"]
    port = free_port()
    env = {
        **base_env,
        "EMULATOR_TOKEN": token,
        "EMULATOR_PORT": str(port),
        "EMULATOR_HOST": "0.0.0.0",  # noqa: S104 - the containers reach it at the gateway
    }
    proc = _spawn(procfile.argv("emulator", env), logs / "emulator.log", env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/", 30, "the Telegram emulator")
        yield Emulator(url, port, token)
    finally:
        _stop(proc)


def queue_depth(aws: Aws) -> tuple[int, int]:
    """(visible, in flight) jobs on the queue."""
    attrs = aws.client("sqs").get_queue_attributes(
        QueueUrl=aws.outputs["JobsQueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    )


def wait_until(predicate, timeout: float, what: str, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
