"""deploy.sh drives the AWS CLI in the right order.

The teardown (--delete) runs the real AWS CLI against a moto server holding stacks made from
our templates, and the tests read what is left in moto. Three gaps in moto 5.2.5 are bridged
there, each where it is used: the artifact and images buckets are made versioned by the test
(moto's CloudFormation ignores VersioningConfiguration), the network stack's public route
table is removed first (moto's CloudFormation cannot delete one), and the pipeline stack is a
small template with what deploy.sh touches (moto cannot create pipeline.yaml).

Deploying runs against a recording stand-in for `aws`: moto 5.2.5 cannot serve `aws
cloudformation deploy` for our stacks.
- A stack it creates has no outputs and no exports: moto builds the stack of a CREATE change
  set from an empty template and ExecuteChangeSet never rebuilds its outputs, so the app
  stack fails with "An error occurred (ValidationError) when calling the ExecuteChangeSet
  operation: No export named <prefix>-network-VpcId found."
- Every re-run (an update, --roll) first redeploys the unchanged network stack. AWS makes that
  a FAILED change set, which --no-fail-on-empty-changeset accepts; moto refuses the call
  itself: "An error occurred (ValidationError) when calling the CreateChangeSet operation: No
  updates are to be performed.", and the CLI exits 255.
The bad-argument tests stay there too: what they check is that no `aws` call is made at all,
which only a recorder sees.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.cloudformation.deploy_fake import install_fake_aws
from tests.cloudformation.recording_aws import calls
from tests.cloudformation.scripts import run_script
from tests.cloudformation.templates import TEMPLATE_DIR, MotoStacks, load

DEPLOY_BUCKET = "demo-deploy-123456789012-us-east-1"


@pytest.fixture
def fake_aws(tmp_path, monkeypatch):
    """The recording stand-in of tests/cloudformation/deploy_fake.py."""
    return install_fake_aws(tmp_path, monkeypatch)


def run_deploy(*args: str) -> subprocess.CompletedProcess[str]:
    return run_script("deploy.sh", *args, unset={"PREFIX", "CERTIFICATE_ARN", "AWS_REGION"})


def deploys(state: Path) -> list[list[str]]:
    return [c for c in calls(state) if c[:2] == ["cloudformation", "deploy"]]


def stack_of(call: list[str]) -> str:
    return call[call.index("--stack-name") + 1]


def test_deploys_the_four_stacks_in_dependency_order(fake_aws):
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    result = run_deploy("--prefix", "demo", "--certificate-arn", cert)
    assert result.returncode == 0, result.stderr
    stacks = [stack_of(c) for c in deploys(fake_aws)]
    assert stacks == ["demo-network", "demo-data", "demo-app", "demo-observability"]
    app = deploys(fake_aws)[2]
    assert "CertificateArn=" + cert in app
    assert "NetworkStackName=demo-network" in app
    assert "DataStackName=demo-data" in app
    assert all("Prefix=demo" in c and "CAPABILITY_NAMED_IAM" in c for c in deploys(fake_aws))
    assert all("--no-fail-on-empty-changeset" in c for c in deploys(fake_aws))
    assert app[app.index("--template-file") + 1] == str(TEMPLATE_DIR / "app.yaml")


def test_unset_certificate_keeps_the_stacks_value(fake_aws):
    result = run_deploy("--prefix", "demo")
    assert result.returncode == 0, result.stderr
    app = next(c for c in calls(fake_aws) if "demo-app" in c and "deploy" in c)
    assert not any(a.startswith("CertificateArn=") for a in app)


def app_deploys(state: Path, prefix: str = "demo") -> list[list[str]]:
    return [c for c in deploys(state) if stack_of(c) == f"{prefix}-app"]


def app_deploy(state: Path, prefix: str = "demo") -> list[str]:
    [app] = app_deploys(state, prefix)
    return app


PIN_PARAMETERS = {
    f"{fleet}{kind}"
    for fleet in ("Blue", "Green", "Worker")
    for kind in ("ImageId", "TemplateVersion", "InstanceType")
}


def pins(app: list[str]) -> dict[str, str]:
    pairs = (a.split("=", 1) for a in app if "=" in a)
    return {k: v for k, v in pairs if k in PIN_PARAMETERS}


TEMPLATE_INSTANCE_TYPE = load("app.yaml")["Parameters"]["PolybotInstanceType"]["Default"]


def test_a_new_app_stack_starts_every_fleet_on_todays_ami_and_one_instance_type(fake_aws):
    result = run_deploy("--prefix", "demo")
    assert result.returncode == 0, result.stderr
    assert pins(app_deploy(fake_aws)) == {
        "BlueImageId": "ami-0today",
        "GreenImageId": "ami-0today",
        "WorkerImageId": "ami-0today",
        "BlueInstanceType": TEMPLATE_INSTANCE_TYPE,
        "GreenInstanceType": TEMPLATE_INSTANCE_TYPE,
    }


def test_a_new_app_stack_starts_both_fleets_on_the_instance_type_asked_for(fake_aws):
    result = run_deploy("--prefix", "demo", "--polybot-instance-type", "t3.small")
    assert result.returncode == 0, result.stderr
    app = app_deploy(fake_aws)
    assert pins(app)["BlueInstanceType"] == pins(app)["GreenInstanceType"] == "t3.small"
    assert "PolybotInstanceType=t3.small" in app


def test_an_update_keeps_every_pin_even_when_a_newer_ami_is_out(fake_aws):
    """A stack update must replace, and stop, no instance the operator did not ask for."""
    (fake_aws / "stacks").write_text("demo-network demo-data demo-app demo-observability")
    (fake_aws / "latest-ami").write_text("ami-0tomorrow")
    result = run_deploy("--prefix", "demo", "--polybot-instance-type", "t3.medium")
    assert result.returncode == 0, result.stderr
    app = app_deploy(fake_aws)
    assert pins(app) == {}
    # The new type is only what the next --roll applies.
    assert "PolybotInstanceType=t3.medium" in app


@pytest.mark.parametrize("fleet", ["blue", "green"])
def test_roll_moves_a_polybot_fleet_to_the_template_version_its_own_update_made(fake_aws, fleet):
    """The launch template version is read after an update that may add one, not before, and
    the fleet takes the AMI and the stack's PolybotInstanceType with it."""
    (fake_aws / "stacks").write_text("demo-network demo-data demo-app demo-observability")
    (fake_aws / "latest-ami").write_text("ami-0tomorrow")
    result = run_deploy("--prefix", "demo", "--roll", fleet)
    assert result.returncode == 0, result.stderr
    first, second = app_deploys(fake_aws)
    assert pins(first) == {}
    name = fleet.capitalize()
    assert pins(second) == {
        f"{name}ImageId": "ami-0tomorrow",
        f"{name}TemplateVersion": "3",  # 2 before the run, 3 after its first update
        f"{name}InstanceType": "value-of-PolybotInstanceType",
    }


def test_roll_worker_moves_the_group_to_the_newest_ami_in_one_update(fake_aws):
    (fake_aws / "stacks").write_text("demo-network demo-data demo-app demo-observability")
    (fake_aws / "latest-ami").write_text("ami-0tomorrow")
    result = run_deploy("--prefix", "demo", "--roll", "worker")
    assert result.returncode == 0, result.stderr
    assert pins(app_deploy(fake_aws)) == {"WorkerImageId": "ami-0tomorrow"}


def test_an_app_stack_left_in_review_is_created_with_its_pins(fake_aws):
    """A failed first create can leave REVIEW_IN_PROGRESS (a change set, no resources); the
    CLI creates such a stack, so it needs every pin a new stack gets."""
    (fake_aws / "stacks").write_text("demo-network demo-data demo-app:REVIEW_IN_PROGRESS")
    result = run_deploy("--prefix", "demo")
    assert result.returncode == 0, result.stderr
    assert pins(app_deploy(fake_aws))["BlueImageId"] == "ami-0today"
    assert not any(c[:2] == ["cloudformation", "delete-stack"] for c in calls(fake_aws))


def test_a_stack_whose_create_rolled_back_is_deleted_and_created_again(fake_aws):
    (fake_aws / "stacks").write_text("demo-network demo-data demo-app:ROLLBACK_COMPLETE")
    result = run_deploy("--prefix", "demo")
    assert result.returncode == 0, result.stderr
    log = calls(fake_aws)
    delete = log.index(["cloudformation", "delete-stack", "--stack-name", "demo-app"])
    wait = log.index(
        ["cloudformation", "wait", "stack-delete-complete", "--stack-name", "demo-app"]
    )
    assert delete < wait < log.index(app_deploy(fake_aws))
    assert pins(app_deploy(fake_aws))["BlueImageId"] == "ami-0today"
    assert "demo-app: its creation failed" in result.stderr


@pytest.mark.parametrize("status", ["UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "CREATE_FAILED"])
def test_a_failed_stack_stops_the_script_with_the_console_link(fake_aws, status):
    (fake_aws / "stacks").write_text(f"demo-network demo-data:{status} demo-app")
    result = run_deploy("--prefix", "demo", "--region", "eu-west-1")
    assert result.returncode != 0
    assert f"demo-data is {status}" in result.stderr
    assert "https://eu-west-1.console.aws.amazon.com/cloudformation/home?region=eu-west-1" in (
        result.stderr
    )
    assert deploys(fake_aws) == []
    assert not any(c[:2] == ["cloudformation", "delete-stack"] for c in calls(fake_aws))


def test_every_template_goes_through_the_deploy_bucket_made_before_the_first_stack(fake_aws):
    result = run_deploy("--prefix", "demo")
    assert result.returncode == 0, result.stderr
    log = calls(fake_aws)
    create = log.index(["s3api", "create-bucket", "--bucket", DEPLOY_BUCKET])
    assert create < log.index(deploys(fake_aws)[0])
    assert all(c[c.index("--s3-bucket") + 1] == DEPLOY_BUCKET for c in deploys(fake_aws))
    made = [c for c in log if c[0] == "s3api" and DEPLOY_BUCKET in c]
    assert {c[1] for c in made} >= {
        "put-public-access-block",
        "put-bucket-encryption",
        "put-bucket-policy",
    }
    [policy] = [c[c.index("--policy") + 1] for c in made if c[1] == "put-bucket-policy"]
    [statement] = json.loads(policy)["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        f"arn:aws:s3:::{DEPLOY_BUCKET}",
        f"arn:aws:s3:::{DEPLOY_BUCKET}/*",
    ]


def test_the_deploy_bucket_of_another_region_names_it_and_is_made_only_once(fake_aws):
    bucket = "demo-deploy-123456789012-eu-west-1"
    result = run_deploy("--prefix", "demo", "--region", "eu-west-1")
    assert result.returncode == 0, result.stderr
    [create] = [c for c in calls(fake_aws) if c[:2] == ["s3api", "create-bucket"]]
    assert create[create.index("--bucket") + 1] == bucket
    assert "LocationConstraint=eu-west-1" in create
    (fake_aws / "calls.jsonl").unlink()
    result = run_deploy("--prefix", "demo", "--region", "eu-west-1")
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls(fake_aws) if c[:2] == ["s3api", "create-bucket"]]


def test_a_domain_whose_zone_is_elsewhere_needs_a_certificate_and_gets_the_record_to_make(
    fake_aws,
):
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/sub"
    args = ("--prefix", "demo", "--domain-name", "bot.example.com", "--certificate-arn", cert)
    result = run_deploy(*args)
    assert result.returncode == 0, result.stderr
    app = app_deploy(fake_aws)
    assert {"DomainName=bot.example.com", "HostedZoneId=", f"CertificateArn={cert}"} <= set(app)
    assert "bot.example.com CNAME value-of-PublicLoadBalancerDnsName" in result.stderr


def test_an_alarm_email_comes_with_the_reminder_to_confirm_it(fake_aws):
    result = run_deploy("--prefix", "demo", "--alarm-email", "ops@example.com")
    assert result.returncode == 0, result.stderr
    assert "ops@example.com" in result.stderr
    assert "Confirm subscription" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prefix", "Bad_Prefix"], "--prefix must be"),
        (["--domain-name", "bot.example.com"], "needs --hosted-zone-id"),
        (["--frobnicate"], "unknown option"),
        (["--roll", "purple"], "--roll takes blue, green or worker"),
        (["--roll", "blue", "--delete"], "do not go together"),
        (["--polybot-instance-type", "huge"], "takes an EC2 instance type"),
    ],
)
def test_bad_arguments_get_a_clear_answer_and_touch_nothing(fake_aws, args, message):
    result = run_deploy(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (fake_aws / "calls.jsonl").exists()


# --- The teardown, with the real AWS CLI against moto ---------------------------------------

# What deploy.sh reads from and does to the pipeline stack: a versioned artifact bucket named
# in an output. The import of an app-stack export makes it depend on the app stack, as
# pipeline.yaml does. moto cannot create pipeline.yaml itself: its CloudFormation skips
# CodePipeline, CodeBuild and CodeDeploy resources ("Template error: instance of Fn::GetAtt
# references undefined resource TestProject"), and the Lambda behind its custom resource needs
# a container engine.
PIPELINE_IN_MOTO = json.dumps(
    {
        "Parameters": {"Prefix": {"Type": "String"}},
        "Resources": {
            "ArtifactBucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
            }
        },
        "Outputs": {
            "ArtifactBucketName": {"Value": {"Ref": "ArtifactBucket"}},
            "AppWebhookUrl": {
                "Value": {"Fn::ImportValue": {"Fn::Sub": "${Prefix}-app-WebhookUrl"}}
            },
        },
    }
)


def deploy_pipeline_stand_in(stacks: MotoStacks) -> str:
    """The pipeline stack (see PIPELINE_IN_MOTO); returns its artifact bucket."""
    stacks.cloudformation.create_stack(
        StackName=stacks.stack_name("pipeline"),
        TemplateBody=PIPELINE_IN_MOTO,
        Parameters=[{"ParameterKey": "Prefix", "ParameterValue": stacks.prefix}],
    )
    return stacks.outputs("pipeline")["ArtifactBucketName"]


def with_old_versions(s3, bucket: str) -> None:
    """Two versions of an object under a delete marker: an ordinary `aws s3 rm` misses them.

    Both templates make the bucket versioned (test_templates checks data.yaml's); moto's
    CloudFormation ignores VersioningConfiguration, so the test turns it on.
    """
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket=bucket, Key="a.jpg", Body=body)
    s3.delete_object(Bucket=bucket, Key="a.jpg")
    listing = s3.list_object_versions(Bucket=bucket)
    assert (len(listing["Versions"]), len(listing["DeleteMarkers"])) == (2, 1)


def without_public_route_table(ec2, vpc_id: str) -> None:
    """Remove the network stack's public route table, which deploy.sh never touches.

    moto 5.2.5's CloudFormation cannot delete an AWS::EC2::RouteTable (nor its Route and
    SubnetRouteTableAssociation), so deleting the network stack would leave it and fail on
    the VPC: "DependencyViolation ... The vpc vpc-... has dependencies and cannot be deleted."
    Real CloudFormation deletes them with the stack.
    """
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    for table in tables["RouteTables"]:
        if any(a.get("Main") for a in table["Associations"]):
            continue
        for association in table["Associations"]:
            ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
        ec2.delete_route_table(RouteTableId=table["RouteTableId"])


def self_signed_pem() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "teardown-webhook")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def stack_ids(stacks: MotoStacks, kinds: list[str]) -> dict[str, str]:
    """Each stack's id, by which moto still describes it once deleted."""
    ids = {}
    for kind in kinds:
        [stack] = stacks.cloudformation.describe_stacks(StackName=stacks.stack_name(kind))["Stacks"]
        ids[kind] = stack["StackId"]
    return ids


def deletion_order(stacks: MotoStacks, ids: dict[str, str]) -> list[str]:
    """The stacks in the order CloudFormation finished deleting them (all must be deleted)."""
    done = {}
    for kind, stack_id in ids.items():
        events = stacks.cloudformation.describe_stack_events(StackName=stack_id)["StackEvents"]
        [done[kind]] = [
            e["Timestamp"]
            for e in events
            if e["ResourceType"] == "AWS::CloudFormation::Stack"
            and e["ResourceStatus"] == "DELETE_COMPLETE"
        ]
    return sorted(done, key=done.get)


def bucket_exists(s3, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "404", error
        return False
    return True


@pytest.mark.slow  # ~40 s: five stacks into moto, then a CLI call per step of the teardown
def test_delete_removes_the_pipeline_first_and_everything_certificate_sh_made(real_aws_cli):
    """The documented teardown is this one command. The pipeline stack imports the app stack,
    so it goes first; each versioned bucket is emptied of every version before its stack is
    deleted; certificate.sh's imported certificate and SSM parameter go too, and so do the
    deploy bucket, after the last stack, and the bot token's secret, at once: with a recovery
    window its name could not be used by a redeploy under the same prefix."""
    stacks = MotoStacks(real_aws_cli)
    acm, s3, ssm = stacks.client("acm"), stacks.client("s3"), stacks.client("ssm")
    cert_pem, key_pem = self_signed_pem()
    certificate = acm.import_certificate(Certificate=cert_pem, PrivateKey=key_pem)
    out = stacks.deploy_all(certificate_arn=certificate["CertificateArn"])
    parameter = f"/{stacks.prefix}/webhook-certificate"
    ssm.put_parameter(Name=parameter, Type="String", Value=cert_pem.decode())
    artifacts = deploy_pipeline_stand_in(stacks)
    images = out["data"]["ImagesBucketName"]
    for bucket in (artifacts, images):
        with_old_versions(s3, bucket)
    without_public_route_table(stacks.client("ec2"), out["network"]["VpcId"])
    ids = stack_ids(stacks, ["pipeline", "observability", "app", "data", "network"])
    # moto skips AWS::SecretsManager::Secret, so the secret the data stack names is made here.
    secrets = stacks.client("secretsmanager")
    secret = out["data"]["BotTokenSecretName"]
    secrets.create_secret(Name=secret, SecretString='{"TELEGRAM_TOKEN": "1:x"}')
    deploy_bucket = f"{stacks.prefix}-deploy-123456789012-{stacks.region}"
    s3.create_bucket(Bucket=deploy_bucket)
    s3.put_object(Bucket=deploy_bucket, Key="templates/0123.template", Body=b"{}")

    result = run_deploy("--delete", "--prefix", stacks.prefix)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # every message is on stderr
    assert f"all {stacks.prefix} stacks deleted" in result.stderr
    assert deletion_order(stacks, ids) == ["pipeline", "observability", "app", "data", "network"]
    # moto keeps a bucket that still holds a version when its stack is deleted.
    assert not bucket_exists(s3, artifacts)
    assert not bucket_exists(s3, images)
    assert not bucket_exists(s3, deploy_bucket)
    # Gone, not scheduled for deletion (that secret would still describe, with a DeletedDate).
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.describe_secret(SecretId=secret)
    with pytest.raises(acm.exceptions.ResourceNotFoundException):
        acm.describe_certificate(CertificateArn=certificate["CertificateArn"])
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=parameter)


@pytest.mark.slow  # ~30 s: three stacks into moto, then the teardown
def test_delete_skips_what_is_not_deployed_and_keeps_a_certificate_it_did_not_import(
    real_aws_cli,
):
    """No pipeline or observability stack and no SSM parameter: each is passed over. The app
    stack's certificate is an ACM-issued one (--domain-name or --certificate-arn), which is
    the operator's, not certificate.sh's: it stays."""
    stacks = MotoStacks(real_aws_cli)
    acm = stacks.client("acm")
    issued = acm.request_certificate(DomainName="bot.example.com")["CertificateArn"]
    network = stacks.deploy("network", "network.yaml")
    stacks.deploy("data", "data.yaml")
    stacks.deploy("app", "app.yaml", **stacks.app_parameters(certificate_arn=issued))
    without_public_route_table(stacks.client("ec2"), network["VpcId"])
    ids = stack_ids(stacks, ["app", "data", "network"])

    result = run_deploy("--delete", "--prefix", stacks.prefix)

    assert result.returncode == 0, result.stderr
    assert f"{stacks.stack_name('pipeline')}: not deployed" in result.stderr
    assert f"{stacks.stack_name('observability')}: not deployed" in result.stderr
    assert deletion_order(stacks, ids) == ["app", "data", "network"]
    assert acm.describe_certificate(CertificateArn=issued)["Certificate"]["Type"] == "AMAZON_ISSUED"
