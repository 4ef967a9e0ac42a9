"""boto3 against a running local stack's moto server, whatever the test process's environment.

Module- and package-scoped fixtures run before the autouse fake-credentials fixture, so these
clients carry moto's placeholder credentials themselves.
"""

from __future__ import annotations

import boto3

from local.config import LocalConfig


def _session(cfg: LocalConfig) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="local-moto",
        aws_secret_access_key="local-moto",  # moto ignores it
        region_name=cfg.region,
    )


def client(cfg: LocalConfig, service: str):
    return _session(cfg).client(service, endpoint_url=cfg.moto_url)


def table(cfg: LocalConfig, name: str):
    return _session(cfg).resource("dynamodb", endpoint_url=cfg.moto_url).Table(name)


def outputs(cfg: LocalConfig) -> dict[str, str]:
    """What bootstrap handed the services (bucket, queue URL, table, secret id...)."""
    text = cfg.outputs_file.read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
