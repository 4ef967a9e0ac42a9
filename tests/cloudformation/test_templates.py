"""Static checks on the templates: cfn-lint, house conventions, and what moto cannot deploy."""

from __future__ import annotations

import json
import re

import pytest
from cfnlint.api import lint_file

from tests.cloudformation.templates import (
    STACK_TEMPLATES,
    TEMPLATE_DIR,
    all_templates,
    load,
    resources_of_type,
)
from tests.support.git import git_mode

SECTION_ORDER = [
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Resources",
    "Outputs",
]
CONSTRAINTS = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"}


@pytest.mark.parametrize("path", all_templates(), ids=lambda p: p.name)
def test_cfn_lint_reports_nothing(path):
    matches = lint_file(path)
    assert [str(m) for m in matches] == []


def test_our_templates_are_all_present():
    assert {p.name for p in all_templates()} >= set(STACK_TEMPLATES)


@pytest.mark.parametrize("name", STACK_TEMPLATES)
def test_sections_come_in_the_fixed_order(name):
    keys = list(load(name))
    assert keys == [s for s in SECTION_ORDER if s in keys]


@pytest.mark.parametrize("name", STACK_TEMPLATES)
def test_every_parameter_is_described_constrained_and_grouped(name):
    template = load(name)
    grouped = {
        p
        for group in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        for p in group["Parameters"]
    }
    for key, param in template["Parameters"].items():
        assert param.get("Description"), key
        aws_typed = param["Type"].startswith("AWS::")
        assert aws_typed or CONSTRAINTS & set(param), f"{key} has no constraint"
        assert key in grouped, f"{key} missing from the Interface"
    prefix = template["Parameters"]["Prefix"]
    assert prefix["Default"] == "polybot"
    assert re.fullmatch(prefix["AllowedPattern"], "polybot")
    assert not re.fullmatch(prefix["AllowedPattern"], "Polybot")


@pytest.mark.parametrize("name", STACK_TEMPLATES)
def test_every_output_is_described_and_exported_under_the_stack_name(name):
    for key, output in load(name)["Outputs"].items():
        assert output.get("Description"), key
        assert output["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{key}"}, key


@pytest.mark.parametrize("name", STACK_TEMPLATES)
def test_logical_ids_are_pascal_case(name):
    template = load(name)
    for section in ("Resources", "Outputs", "Conditions", "Parameters"):
        for key in template.get(section, {}):
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", key), f"{section}.{key}"


def test_every_checkov_suppression_is_justified():
    for path in all_templates():
        text = path.read_text()
        if "checkov" not in text:
            continue
        for key, res in load(path)["Resources"].items():
            for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(skip.get("comment", "")) > 20, f"{path.name}:{key} {skip['id']}"


# ---- resources moto skips: checked as written ---------------------------------------------


def test_bucket_policy_denies_plain_http():
    [policy] = resources_of_type(load("data.yaml"), "AWS::S3::BucketPolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert policy["Properties"]["Bucket"] == {"Ref": "ImagesBucket"}


def test_bot_token_secret_holds_no_token_and_generates_the_webhook_secret():
    [secret] = resources_of_type(load("data.yaml"), "AWS::SecretsManager::Secret").values()
    props = secret["Properties"]
    assert "SecretString" not in props
    generate = props["GenerateSecretString"]
    assert generate["GenerateStringKey"] == "WEBHOOK_SECRET"
    assert generate["ExcludePunctuation"] is True  # Telegram's secret_token alphabet
    assert "REPLACE_WITH_BOT_TOKEN" in generate["SecretStringTemplate"]
    assert props["Name"] == {"Fn::Sub": "${Prefix}/telegram-bot-token"}
    # The name output must not depend on the resource (moto skips it in local mode).
    assert load("data.yaml")["Outputs"]["BotTokenSecretName"]["Value"] == props["Name"]


def test_worker_scaling_policy_tracks_average_cpu_with_warmup():
    app = load("app.yaml")
    policy = resources_of_type(app, "AWS::AutoScaling::ScalingPolicy")["WorkerCpuScalingPolicy"]
    assert "Condition" not in policy, "the CPU 60% policy is always on"
    props = policy["Properties"]
    assert props["PolicyType"] == "TargetTrackingScaling"
    assert props["AutoScalingGroupName"] == {"Ref": "WorkerAutoScalingGroup"}
    spec = props["TargetTrackingConfiguration"]
    assert spec["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ASGAverageCPUUtilization"
    )
    assert spec["TargetValue"] == {"Ref": "WorkerCpuTarget"}
    assert app["Parameters"]["WorkerCpuTarget"]["Default"] == 60
    assert props["EstimatedInstanceWarmup"] >= 60


def test_worker_group_has_a_drain_hook_longer_than_the_visibility_timeout():
    app, data = load("app.yaml"), load("data.yaml")
    group = app["Resources"]["WorkerAutoScalingGroup"]["Properties"]
    [hook] = group["LifecycleHookSpecificationList"]
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["DefaultResult"] == "CONTINUE"
    drain = app["Parameters"]["WorkerDrainSeconds"]
    assert drain["MinValue"] > data["Parameters"]["JobVisibilityTimeout"]["Default"]
    assert group["DefaultInstanceWarmup"] > 0


def test_alarms_watch_dead_letters_and_oldest_message_age():
    alarms = resources_of_type(load("observability.yaml"), "AWS::CloudWatch::Alarm")
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    dlq = by_metric["ApproximateNumberOfMessagesVisible"]
    assert dlq["Threshold"] == 0
    assert dlq["ComparisonOperator"] == "GreaterThanThreshold"
    assert "DeadLetterQueueName" in str(dlq["Dimensions"])
    age = by_metric["ApproximateAgeOfOldestMessage"]
    assert age["Threshold"] == {"Ref": "OldestMessageAgeThresholdSeconds"}
    assert "JobsQueueName" in str(age["Dimensions"])


def test_domain_mode_issues_a_dns_validated_certificate_and_an_alias():
    app = load("app.yaml")
    [cert] = resources_of_type(app, "AWS::CertificateManager::Certificate").values()
    assert cert["Condition"] == "IssuesDomainCertificate"
    assert cert["Properties"]["ValidationMethod"] == "DNS"
    assert cert["Properties"]["DomainValidationOptions"][0]["HostedZoneId"] == {
        "Ref": "HostedZoneId"
    }
    [record] = resources_of_type(app, "AWS::Route53::RecordSet").values()
    assert record["Condition"] == "CreatesAliasRecord"
    assert app["Conditions"]["CreatesAliasRecord"] == {
        "Fn::And": [{"Condition": "HasDomain"}, {"Condition": "HasHostedZone"}]
    }
    assert "AliasTarget" in record["Properties"]


def test_a_domain_needs_its_zone_here_or_a_certificate_for_it():
    """A subdomain of a domain whose zone is in another account: the certificate is given,
    and the stack makes no record (test_deploy_moto deploys that case)."""
    [rule] = load("app.yaml")["Rules"].values()
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}
    [assertion] = rule["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Or": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "HostedZoneId"}, ""]}]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]},
        ]
    }


def test_launch_templates_require_imdsv2_and_encrypt_volumes():
    templates = resources_of_type(load("app.yaml"), "AWS::EC2::LaunchTemplate")
    assert set(templates) == {"PolybotLaunchTemplate", "WorkerLaunchTemplate"}
    for key, lt in templates.items():
        data = lt["Properties"]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required", key
        assert data["IamInstanceProfile"], key
        for mapping in data["BlockDeviceMappings"]:
            assert mapping["Ebs"]["Encrypted"] is True, key
            assert mapping["Ebs"]["VolumeType"] == "gp3", key


def test_user_data_prepares_docker_agents_and_the_env_files():
    resources = load("app.yaml")["Resources"]
    expected = {
        "PolybotLaunchTemplate": ["/etc/polybot/polybot.env", "PUBLIC_URL=", "TELEGRAM_TOKEN"],
        "WorkerLaunchTemplate": ["/etc/polybot/yolo5.env", "POLYBOT_RESULTS_URL=http://"],
    }
    for key, needles in expected.items():
        script = str(resources[key]["Properties"]["LaunchTemplateData"]["UserData"])
        for needle in [
            "systemctl enable --now docker",
            "aws-codedeploy-${AWS::Region}",
            "amazon-cloudwatch-agent-ctl",
            "IMAGES_BUCKET=",
            "JOBS_QUEUE_URL=",
            "PREDICTIONS_TABLE=",
            "LOG_GROUP=",
            *needles,
        ]:
            assert needle in script, f"{key}: {needle}"


def user_data(resource: str) -> list[str]:
    """A launch template's user data script, as lines."""
    data = load("app.yaml")["Resources"][resource]["Properties"]["LaunchTemplateData"]
    return data["UserData"]["Fn::Base64"]["Fn::Sub"][0].splitlines()


@pytest.mark.parametrize("resource", ["PolybotLaunchTemplate", "WorkerLaunchTemplate"])
def test_user_data_starts_the_codedeploy_agent_last(resource):
    """Once the agent runs, a deployment's hooks may run (a scale-out's launch deployment
    waits for it), and they need everything else user data makes: the env file, the drain and
    certificate units."""
    commands = [line for line in user_data(resource) if line and not line.startswith("#")]
    assert commands[-1] == "systemctl enable --now codedeploy-agent"
    [download] = [i for i, line in enumerate(commands) if "aws-codedeploy-${AWS::Region}" in line]
    before = commands[:download]
    others = [c for c in before if c.startswith(("cat >", "systemctl ", "chmod ", "mkdir "))]
    assert others  # the env file, units and tools all come first
    assert not [c for c in commands[download:-1] if "codedeploy" not in c], commands[download:]


@pytest.mark.parametrize("resource", ["PolybotLaunchTemplate", "WorkerLaunchTemplate"])
def test_user_data_installs_the_ruby_the_codedeploy_installer_takes(resource):
    """The installer takes Ruby up to 3.2; AL2023 also ships 3.4."""
    [install] = [line for line in user_data(resource) if line.startswith("dnf install")]
    packages = install.split()[3:]
    assert "ruby3.2" in packages
    assert not [p for p in packages if p.startswith("ruby") and p != "ruby3.2"]


def dashboard_metrics(namespace: str) -> set[str]:
    """The metric names of `namespace` that the observability stack's dashboard plots."""
    body, _ = load("observability.yaml")["Resources"]["Dashboard"]["Properties"]["DashboardBody"][
        "Fn::Sub"
    ]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    names = set()
    for widget in widgets:
        previous: list[str] = []
        for row in widget["properties"].get("metrics", []):
            row = [item for item in row if isinstance(item, str)]
            if row[0] == "...":
                row = previous
            # "." repeats the item above it (CloudWatch's dashboard body shorthand).
            above = previous + row[len(previous) :]
            row = [prev if item == "." else item for item, prev in zip(row, above, strict=False)]
            if row[0] == namespace:
                names.add(row[1])
            previous = row
    return names


def test_every_group_metric_the_dashboard_plots_is_published():
    """Auto Scaling publishes group metrics only for the metrics the group collects."""
    plotted = dashboard_metrics("AWS/AutoScaling")
    assert plotted >= {"GroupInServiceInstances", "GroupDesiredCapacity"}
    group = load("app.yaml")["Resources"]["WorkerAutoScalingGroup"]["Properties"]
    collected = {m for c in group["MetricsCollection"] for m in c["Metrics"]}
    assert plotted <= collected, sorted(plotted - collected)
    assert {
        "GroupDesiredCapacity",
        "GroupInServiceInstances",
        "GroupPendingInstances",
        "GroupTerminatingInstances",
    } <= collected


@pytest.mark.parametrize("script", ["deploy.sh", "certificate.sh"])
def test_scripts_are_executable_in_git(script):
    """Operators run them from a clone; a source zip's modes are not to be trusted."""
    assert git_mode(TEMPLATE_DIR / script) == "100755", script


def test_bucket_is_versioned_private_and_expires_old_images():
    # moto's S3 bucket model applies only BucketEncryption; the rest is checked as written.
    [bucket] = resources_of_type(load("data.yaml"), "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    prefixes = {r.get("Prefix") for r in props["LifecycleConfiguration"]["Rules"]}
    assert {"originals/", "predictions/"} <= prefixes
    assert "${AWS::AccountId}-${AWS::Region}" in props["BucketName"]["Fn::Sub"]


def test_subnets_are_public_in_two_zones():
    subnets = resources_of_type(load("network.yaml"), "AWS::EC2::Subnet")
    assert len(subnets) == 2
    zones = [s["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in subnets.values()]
    assert sorted(zones) == [0, 1]
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is True for s in subnets.values())


def test_table_has_ttl_point_in_time_recovery_and_encryption():
    # moto creates the table but does not report TTL/PITR set through CloudFormation.
    [table] = resources_of_type(load("data.yaml"), "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_only_the_blue_fleet_is_registered_at_creation():
    app = load("app.yaml")
    instances = resources_of_type(app, "AWS::EC2::Instance")
    fleets = {
        key: {t["Key"]: t["Value"] for t in res["Properties"]["Tags"]}["Fleet"]
        for key, res in instances.items()
    }
    assert sorted(fleets.values()) == ["blue", "blue", "green", "green"]
    blue = {key for key, fleet in fleets.items() if fleet == "blue"}
    groups = resources_of_type(app, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert set(groups) == {"PublicTargetGroup", "InternalTargetGroup"}
    for key, group in groups.items():
        registered = {t["Id"]["Ref"] for t in group["Properties"]["Targets"]}
        assert registered == blue, key
        assert all(t["Port"] == POLYBOT_PORT for t in group["Properties"]["Targets"]), key


# What app.yaml's Mappings name polybot's port with (the rehearsal reads the number from there).
POLYBOT_PORT = {"Fn::FindInMap": ["Polybot", "Instance", "Port"]}


def test_polybot_port_is_named_once_in_the_mappings():
    app = load("app.yaml")
    port = app["Mappings"]["Polybot"]["Instance"]["Port"]
    # Beside the mapping, only prose may name the number (a security group's GroupDescription
    # keeps it: changing that text would replace the group).
    lines = (TEMPLATE_DIR / "app.yaml").read_text().splitlines()
    uses = [line.strip() for line in lines if re.search(rf"\b{port}\b", line)]
    assert uses[0] == f"Port: {port}", uses
    assert all(re.match(r"(Group)?Description:", line) for line in uses[1:]), uses
    # The hooks publish the port they find in settings.sh: the same number.
    settings = (TEMPLATE_DIR.parent / "appspecs" / "polybot" / "hooks" / "settings.sh").read_text()
    assert f'SERVICE_PORT="${{SERVICE_PORT:-{port}}}"' in settings


def test_both_subnets_use_the_route_table_with_the_internet_route():
    network = load("network.yaml")
    associations = resources_of_type(network, "AWS::EC2::SubnetRouteTableAssociation")
    assert {a["Properties"]["SubnetId"]["Ref"] for a in associations.values()} == {
        "PublicSubnet1",
        "PublicSubnet2",
    }
    assert {a["Properties"]["RouteTableId"]["Ref"] for a in associations.values()} == {
        "PublicRouteTable"
    }
    [route] = resources_of_type(network, "AWS::EC2::Route").values()
    assert route["Properties"]["RouteTableId"] == {"Ref": "PublicRouteTable"}
    assert route["Properties"]["GatewayId"] == {"Ref": "InternetGateway"}


def test_a_stack_update_replaces_no_polybot_instance_unless_asked():
    """ImageId and the launch template version force an instance's replacement. Both are
    pinned per fleet by parameters the operator changes (deploy.sh --roll), never resolved
    again on an update (an SSM parameter type is resolved on every update)."""
    app = load("app.yaml")
    parameters = app["Parameters"]
    assert not [k for k, p in parameters.items() if p["Type"].startswith("AWS::SSM::Parameter")]
    for key, instance in resources_of_type(app, "AWS::EC2::Instance").items():
        fleet = {t["Key"]: t["Value"] for t in instance["Properties"]["Tags"]}["Fleet"].title()
        props = instance["Properties"]
        assert props["ImageId"] == {"Ref": f"{fleet}ImageId"}, key
        assert props["LaunchTemplate"]["Version"] == {"Ref": f"{fleet}TemplateVersion"}, key
        # A new type stops and starts the instance ("Some interruptions"), and the four are
        # updated in parallel: the type is pinned per fleet too.
        assert props["InstanceType"] == {"Ref": f"{fleet}InstanceType"}, key
    for name in ("BlueImageId", "GreenImageId", "WorkerImageId"):
        assert parameters[name]["Type"] == "AWS::EC2::Image::Id"
        assert "Default" not in parameters[name]  # deploy.sh looks it up once, at creation
    for name in ("BlueInstanceType", "GreenInstanceType"):
        assert "Default" not in parameters[name]  # deploy.sh sets it at creation
        assert re.fullmatch(
            parameters[name]["AllowedPattern"], parameters["PolybotInstanceType"]["Default"]
        )
    worker = app["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert worker["ImageId"] == {"Ref": "WorkerImageId"}
