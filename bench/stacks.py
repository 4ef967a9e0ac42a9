"""Find a deployment's resources from its CloudFormation stacks: `<prefix>-data`, `<prefix>-app`.

The output names are the templates' (cloudformation/data.yaml and app.yaml, where
tests/bench/test_stacks.py checks them), and the stack names are cloudformation/deploy.sh's
and local/bootstrap.py's. Standard library and boto3 only: the load test imports this in AWS
CloudShell, where nothing else is installed.
"""

from __future__ import annotations

from typing import NamedTuple

from botocore.exceptions import ClientError

# What the load test takes from each stack: {its name here: the template's output name}.
DATA_OUTPUTS = {
    "bucket": "ImagesBucketName",
    "table": "PredictionsTableName",
    "queue_url": "JobsQueueUrl",
}
GROUP_OUTPUT = "WorkerAutoScalingGroupName"  # app stack


def data_stack(prefix: str) -> str:
    return f"{prefix}-data"


def app_stack(prefix: str) -> str:
    return f"{prefix}-app"


class MissingStack(RuntimeError):
    """The data stack is not there (or lacks an output the load test needs)."""


class Deployment(NamedTuple):
    """Where the load test puts jobs, and the worker group it watches (None: none to watch)."""

    bucket: str
    table: str
    queue_url: str
    group: str | None = None


def stack_outputs(cloudformation, name: str) -> dict[str, str] | None:
    """A stack's outputs by key; None when the stack does not exist."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        # CloudFormation answers a missing stack with a ValidationError "... does not exist".
        if exc.response["Error"]["Code"] == "ValidationError":
            return None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def discover(cloudformation, prefix: str, group: str | None = None) -> Deployment:
    """The data stack's bucket, table and queue; the app stack's worker group unless `group`
    names one. No app stack (e.g. `make up`, which deploys the data template only): no group."""
    outputs = stack_outputs(cloudformation, data_stack(prefix))
    if outputs is None:
        raise MissingStack(f"no stack {data_stack(prefix)} (is --prefix/--region right?)")
    missing = sorted(key for key in DATA_OUTPUTS.values() if key not in outputs)
    if missing:
        raise MissingStack(f"stack {data_stack(prefix)} has no output {', '.join(missing)}")
    found = {name: outputs[key] for name, key in DATA_OUTPUTS.items()}
    if group is None:
        group = (stack_outputs(cloudformation, app_stack(prefix)) or {}).get(GROUP_OUTPUT)
    return Deployment(**found, group=group)
