"""deploy.sh drives the AWS CLI in the right order; run against a recording stand-in for `aws`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cloudformation.recording_aws import calls, install, run_script
from tests.cloudformation.templates import TEMPLATE_DIR

# A stand-in `aws`: records each call as a JSON list and answers the few queries deploy.sh makes.
FAKE_AWS = """existing = set((state / "stacks").read_text().split())
if command == "cloudformation describe-stacks":
    stack = arg("--stack-name")
    if stack not in existing:
        sys.exit(255)
    query = arg("--query")
    if "CertificateArn" in query:
        print("None")
    elif "ImagesBucketName" in query:
        print("images-bucket")
    elif "ArtifactBucketName" in query:
        print("artifact-bucket")
    elif "--query" in args:
        print("value-of-" + query.split("'")[1])
elif command == "s3api list-object-versions":
    listed = state / ("listed-" + arg("--bucket"))  # one version per bucket, then empty
    if listed.exists():
        print(json.dumps({{"Objects": [], "Quiet": True}}))
    else:
        listed.touch()
        version = {{"Key": arg("--bucket") + "/a.jpg", "VersionId": "v1"}}
        print(json.dumps({{"Objects": [version], "Quiet": True}}))
elif command == "ssm delete-parameter":
    sys.exit(254)  # not there: deploy.sh must carry on
elif command == "ssm get-parameter":
    print((state / "latest-ami").read_text())
elif command == "ec2 describe-launch-templates":
    print("3")
"""


@pytest.fixture
def fake_aws(tmp_path, monkeypatch):
    (tmp_path / "stacks").write_text("")
    (tmp_path / "latest-ami").write_text("ami-0today")
    return install(FAKE_AWS, tmp_path, monkeypatch)


def run_deploy(*args: str) -> subprocess.CompletedProcess[str]:
    return run_script("deploy.sh", *args, unset={"PREFIX", "CERTIFICATE_ARN"})


def test_deploys_the_four_stacks_in_dependency_order(fake_aws):
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    result = run_deploy("--prefix", "demo", "--certificate-arn", cert)
    assert result.returncode == 0, result.stderr
    deploys = [c for c in calls(fake_aws) if c[:2] == ["cloudformation", "deploy"]]
    stacks = [c[c.index("--stack-name") + 1] for c in deploys]
    assert stacks == ["demo-network", "demo-data", "demo-app", "demo-observability"]
    app = deploys[2]
    assert "CertificateArn=" + cert in app
    assert "NetworkStackName=demo-network" in app
    assert "DataStackName=demo-data" in app
    assert all("Prefix=demo" in c and "CAPABILITY_NAMED_IAM" in c for c in deploys)
    assert all("--no-fail-on-empty-changeset" in c for c in deploys)
    assert app[app.index("--template-file") + 1] == str(TEMPLATE_DIR / "app.yaml")


def test_unset_certificate_keeps_the_stacks_value(fake_aws):
    result = run_deploy("--prefix", "demo")
    assert result.returncode == 0, result.stderr
    app = next(c for c in calls(fake_aws) if "demo-app" in c and "deploy" in c)
    assert not any(a.startswith("CertificateArn=") for a in app)


def test_delete_tears_down_in_reverse_after_emptying_the_bucket(fake_aws):
    (fake_aws / "stacks").write_text("demo-network demo-data demo-app demo-observability")
    result = run_deploy("--delete", "--prefix", "demo")
    assert result.returncode == 0, result.stderr
    log = calls(fake_aws)
    deletes = [c[c.index("--stack-name") + 1] for c in log if c[1] == "delete-stack"]
    assert deletes == ["demo-observability", "demo-app", "demo-data", "demo-network"]
    emptied = [i for i, c in enumerate(log) if c[:2] == ["s3api", "delete-objects"]]
    data_deleted = next(i for i, c in enumerate(log) if c[1] == "delete-stack" and "demo-data" in c)
    assert len(emptied) == 1 and emptied[0] < data_deleted
    batch = json.loads(log[emptied[0]][log[emptied[0]].index("--delete") + 1])
    assert batch["Objects"] == [{"Key": "images-bucket/a.jpg", "VersionId": "v1"}]


def test_delete_removes_the_pipeline_first_after_emptying_its_artifact_bucket(fake_aws):
    """The documented teardown is this one command: the pipeline stack imports the app
    stack, and its versioned artifact bucket cannot be deleted while it holds versions."""
    (fake_aws / "stacks").write_text("demo-pipeline demo-app demo-data")
    result = run_deploy("--delete", "--prefix", "demo")
    assert result.returncode == 0, result.stderr
    log = calls(fake_aws)
    deletes = [c[c.index("--stack-name") + 1] for c in log if c[1] == "delete-stack"]
    assert deletes[0] == "demo-pipeline"
    emptied = [
        json.loads(c[c.index("--delete") + 1])["Objects"][0]["Key"]
        for c in log
        if c[:2] == ["s3api", "delete-objects"]
    ]
    assert emptied == ["artifact-bucket/a.jpg", "images-bucket/a.jpg"]
    first_delete = next(i for i, c in enumerate(log) if c[1] == "delete-stack")
    artifact_emptied = next(i for i, c in enumerate(log) if c[:2] == ["s3api", "delete-objects"])
    assert artifact_emptied < first_delete


def app_deploy(state: Path, prefix: str = "demo") -> list[str]:
    return next(
        c for c in calls(state) if c[:2] == ["cloudformation", "deploy"] and f"{prefix}-app" in c
    )


def pins(app: list[str]) -> dict[str, str]:
    wanted = ("ImageId=", "TemplateVersion=")
    return dict(a.split("=", 1) for a in app if any(w in a for w in wanted))


def test_a_new_app_stack_starts_every_fleet_on_todays_ami(fake_aws):
    result = run_deploy("--prefix", "demo")
    assert result.returncode == 0, result.stderr
    assert pins(app_deploy(fake_aws)) == {
        "BlueImageId": "ami-0today",
        "GreenImageId": "ami-0today",
        "WorkerImageId": "ami-0today",
    }


def test_an_update_keeps_every_pin_even_when_a_newer_ami_is_out(fake_aws):
    """A stack update must replace no instance the operator did not ask for."""
    (fake_aws / "stacks").write_text("demo-network demo-data demo-app demo-observability")
    (fake_aws / "latest-ami").write_text("ami-0tomorrow")
    result = run_deploy("--prefix", "demo")
    assert result.returncode == 0, result.stderr
    assert pins(app_deploy(fake_aws)) == {}


@pytest.mark.parametrize(
    ("fleet", "expected"),
    [
        ("green", {"GreenImageId": "ami-0tomorrow", "GreenTemplateVersion": "3"}),
        ("blue", {"BlueImageId": "ami-0tomorrow", "BlueTemplateVersion": "3"}),
        ("worker", {"WorkerImageId": "ami-0tomorrow"}),
    ],
)
def test_roll_moves_one_fleet_to_the_newest_ami_and_template(fake_aws, fleet, expected):
    (fake_aws / "stacks").write_text("demo-network demo-data demo-app demo-observability")
    (fake_aws / "latest-ami").write_text("ami-0tomorrow")
    result = run_deploy("--prefix", "demo", "--roll", fleet)
    assert result.returncode == 0, result.stderr
    assert pins(app_deploy(fake_aws)) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prefix", "Bad_Prefix"], "--prefix must be"),
        (["--domain-name", "bot.example.com"], "needs --hosted-zone-id"),
        (["--frobnicate"], "unknown option"),
        (["--roll", "purple"], "--roll takes blue, green or worker"),
        (["--roll", "blue", "--delete"], "do not go together"),
    ],
)
def test_bad_arguments_get_a_clear_answer_and_touch_nothing(fake_aws, args, message):
    result = run_deploy(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (fake_aws / "calls.jsonl").exists()
