"""Deploy network -> data -> app -> observability into a real moto server and inspect the result."""

from __future__ import annotations

import base64
import json

import pytest

from tests.cloudformation.templates import MotoStacks

TELEGRAM_CIDRS = {"149.154.160.0/20", "91.108.4.0/22"}
# What local mode (local/bootstrap.py) and the services read from the data stack.
DATA_OUTPUTS_LOCAL_MODE_READS = {
    "ImagesBucketName",
    "JobsQueueUrl",
    "JobsQueueArn",
    "JobsQueueName",
    "DeadLetterQueueUrl",
    "DeadLetterQueueArn",
    "PredictionsTableName",
    "PredictionsTableArn",
    "BotTokenSecretName",
}
# Also exported (JobVisibilityTimeout for the app stack's worker stop timeout);
# BotTokenSecretArn only where the secret really exists (not under moto).
DATA_OUTPUTS_EXTRA = {
    "ImagesBucketArn",
    "DeadLetterQueueName",
    "BotTokenSecretArn",
    "JobVisibilityTimeout",
}
APP_OUTPUTS_THE_PIPELINE_NEEDS = {
    "PublicLoadBalancerDnsName",
    "WebhookUrl",
    "InternalLoadBalancerDnsName",
    "ResultsUrl",
    "PublicTargetGroupName",
    "PublicTargetGroupArn",
    "InternalTargetGroupName",
    "InternalTargetGroupArn",
    "HttpsListenerArn",
    "WorkerAutoScalingGroupName",
    "PolybotInstanceRoleName",
    "WorkerInstanceRoleName",
    "PolybotFleetTagKey",
    "BlueFleetTagValue",
    "GreenFleetTagValue",
    "PolybotLogGroupName",
    "WorkerLogGroupName",
}


@pytest.fixture(scope="module")
def stacks(moto_server):
    stacks = MotoStacks(moto_server)
    cert = stacks.client("acm").request_certificate(DomainName="bot.example.com")
    stacks.certificate_arn = cert["CertificateArn"]
    stacks.out = stacks.deploy_all(certificate_arn=stacks.certificate_arn)
    return stacks


@pytest.fixture(scope="module")
def ec2(stacks):
    return stacks.client("ec2")


@pytest.fixture(scope="module")
def elbv2(stacks):
    return stacks.client("elbv2")


def _group(ec2, group_id):
    return ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


def _group_named(ec2, stacks, name_tag):
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "tag:Name", "Values": [f"{stacks.prefix}-{name_tag}"]}]
    )["SecurityGroups"]
    assert len(groups) == 1, name_tag
    return groups[0]


def _load_balancer(elbv2, name):
    return elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]


def test_all_four_stacks_are_created(stacks):
    for kind in ("network", "data", "app", "observability"):
        stack = stacks.cloudformation.describe_stacks(StackName=stacks.stack_name(kind))
        assert stack["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_vpc_has_public_subnets_in_two_zones(stacks, ec2):
    net = stacks.out["network"]
    vpc = ec2.describe_vpcs(VpcIds=[net["VpcId"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == net["VpcCidr"] == "10.20.0.0/16"
    subnet_ids = [net["PublicSubnet1Id"], net["PublicSubnet2Id"]]
    subnets = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    # moto ignores MapPublicIpOnLaunch: test_templates checks it as written.
    assert all(s["VpcId"] == vpc["VpcId"] for s in subnets)
    [igw] = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}]
    )["InternetGateways"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "RouteTables"
    ]
    # moto does not list the subnet associations it creates; test_templates checks them.
    defaults = [
        r["GatewayId"]
        for t in tables
        for r in t["Routes"]
        if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    ]
    assert defaults == [igw["InternetGatewayId"]]


def test_public_alb_admits_443_from_telegram_only(stacks, ec2):
    group = _group_named(ec2, stacks, "public-alb")
    rules = group["IpPermissions"]
    assert {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in rules} == {("tcp", 443, 443)}
    cidrs = {ip["CidrIp"] for r in rules for ip in r["IpRanges"]}
    assert cidrs == TELEGRAM_CIDRS
    assert not any(r["UserIdGroupPairs"] for r in rules)


def test_polybot_admits_8443_only_from_the_two_load_balancers(stacks, ec2):
    polybot = _group_named(ec2, stacks, "polybot")
    public = _group_named(ec2, stacks, "public-alb")
    internal = _group_named(ec2, stacks, "internal-alb")
    rules = polybot["IpPermissions"]
    assert {(r["FromPort"], r["ToPort"]) for r in rules} == {(8443, 8443)}
    assert not any(r["IpRanges"] for r in rules)
    sources = {pair["GroupId"] for r in rules for pair in r["UserIdGroupPairs"]}
    assert sources == {public["GroupId"], internal["GroupId"]}


def test_internal_alb_admits_80_only_from_the_workers(stacks, ec2):
    internal = _group_named(ec2, stacks, "internal-alb")
    worker = _group_named(ec2, stacks, "yolo5")
    [rule] = internal["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (80, 80)
    assert not rule["IpRanges"]
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [worker["GroupId"]]
    assert worker["IpPermissions"] == []


def test_public_listener_is_https_with_certificate_and_tls12_policy(stacks, elbv2):
    lb = _load_balancer(elbv2, f"{stacks.prefix}-public")
    assert lb["Scheme"] == "internet-facing"
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert (listener["Port"], listener["Protocol"]) == (443, "HTTPS")
    assert listener["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert [c["CertificateArn"] for c in listener["Certificates"]] == [stacks.certificate_arn]
    assert stacks.out["app"]["HttpsListenerArn"] == listener["ListenerArn"]
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    forwards = {
        tuple(c["Values"] if "Values" in c else c["PathPatternConfig"]["Values"]): a[
            "TargetGroupArn"
        ]
        for r in rules
        for c in r["Conditions"]
        for a in r["Actions"]
        if a["Type"] == "forward"
    }
    assert forwards == {("/telegram/webhook",): stacks.out["app"]["PublicTargetGroupArn"]}


def test_internal_listener_is_http_80_forwarding_results(stacks, elbv2):
    lb = _load_balancer(elbv2, f"{stacks.prefix}-internal")
    assert lb["Scheme"] == "internal"
    assert lb["DNSName"] == stacks.out["app"]["InternalLoadBalancerDnsName"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    targets = [a["TargetGroupArn"] for r in rules for a in r["Actions"] if a["Type"] == "forward"]
    assert targets == [stacks.out["app"]["InternalTargetGroupArn"]]
    assert stacks.out["app"]["ResultsUrl"] == f"http://{lb['DNSName']}/results"


def test_two_fleets_one_instance_per_zone_behind_healthz_target_groups(stacks, ec2, elbv2):
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": "tag:Project", "Values": [stacks.prefix]},
            {"Name": "tag:Service", "Values": ["polybot"]},
        ]
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    fleets: dict[str, list[dict]] = {}
    for instance in instances:
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["Service"] == "polybot"
        assert instance["InstanceType"] == "t3.micro"
        fleets.setdefault(tags["Fleet"], []).append(instance)
    assert sorted(fleets) == ["blue", "green"]
    net = stacks.out["network"]
    for members in fleets.values():
        assert sorted(i["SubnetId"] for i in members) == sorted(
            [net["PublicSubnet1Id"], net["PublicSubnet2Id"]]
        )
    # moto ignores TargetGroup.Targets: test_templates checks that only blue is listed.
    for key in ("PublicTargetGroupArn", "InternalTargetGroupArn"):
        group_arn = stacks.out["app"][key]
        [group] = elbv2.describe_target_groups(TargetGroupArns=[group_arn])["TargetGroups"]
        assert (group["Port"], group["Protocol"]) == (8443, "HTTP")
        assert group["HealthCheckPath"] == "/healthz"


def test_worker_group_sizes_subnets_and_tags(stacks):
    autoscaling = stacks.client("autoscaling")
    name = stacks.out["app"]["WorkerAutoScalingGroupName"]
    [group] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (1, 1, 2)
    net = stacks.out["network"]
    assert set(group["VPCZoneIdentifier"].split(",")) == {
        net["PublicSubnet1Id"],
        net["PublicSubnet2Id"],
    }
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["Service"] == "yolo5"
    assert group["LaunchTemplate"]["LaunchTemplateName"] == f"{stacks.prefix}-yolo5"


def test_launch_templates_carry_imdsv2_and_resolved_env_files(stacks, ec2):
    data, app = stacks.out["data"], stacks.out["app"]
    expected = {
        "polybot": [
            f"IMAGES_BUCKET={data['ImagesBucketName']}",
            f"JOBS_QUEUE_URL={data['JobsQueueUrl']}",
            f"TELEGRAM_TOKEN_SECRET_ID={data['BotTokenSecretName']}",
            f"LOG_GROUP={app['PolybotLogGroupName']}",
            f"PUBLIC_URL=https://{app['PublicLoadBalancerDnsName']}",
        ],
        "yolo5": [
            f"PREDICTIONS_TABLE={data['PredictionsTableName']}",
            f"LOG_GROUP={app['WorkerLogGroupName']}",
            f"POLYBOT_RESULTS_URL={app['ResultsUrl']}",
        ],
    }
    for service, lines in expected.items():
        [version] = ec2.describe_launch_template_versions(
            LaunchTemplateName=f"{stacks.prefix}-{service}"
        )["LaunchTemplateVersions"]
        lt = version["LaunchTemplateData"]
        assert lt["MetadataOptions"]["HttpTokens"] == "required"
        script = base64.b64decode(lt["UserData"]).decode()
        for line in lines:
            assert f"\n{line}\n" in script, f"{service}: {line}"


def test_jobs_queue_redrives_to_the_dlq_after_three_receives(stacks):
    sqs = stacks.client("sqs")
    data = stacks.out["data"]
    attrs = sqs.get_queue_attributes(QueueUrl=data["JobsQueueUrl"], AttributeNames=["All"])[
        "Attributes"
    ]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == data["DeadLetterQueueArn"]
    assert int(redrive["maxReceiveCount"]) == 3
    assert attrs["VisibilityTimeout"] == "120"
    assert attrs["KmsMasterKeyId"] == "alias/aws/sqs"
    dlq = sqs.get_queue_attributes(QueueUrl=data["DeadLetterQueueUrl"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert dlq["KmsMasterKeyId"] == "alias/aws/sqs"


def test_predictions_table_key_and_billing(stacks):
    dynamodb = stacks.client("dynamodb")
    table = dynamodb.describe_table(TableName=stacks.out["data"]["PredictionsTableName"])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "prediction_id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [
        {"AttributeName": "prediction_id", "AttributeType": "S"}
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_images_bucket_name_is_global_and_encrypted(stacks):
    # moto applies only the encryption of AWS::S3::Bucket; versioning, public access block and
    # lifecycle are checked as written in test_templates.
    s3 = stacks.client("s3")
    bucket = stacks.out["data"]["ImagesBucketName"]
    assert bucket == f"{stacks.prefix}-images-123456789012-us-east-1"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_one_role_per_service_with_an_instance_profile(stacks):
    iam = stacks.client("iam")
    app = stacks.out["app"]
    for role_name, policy in (
        (app["PolybotInstanceRoleName"], "polybot"),
        (app["WorkerInstanceRoleName"], "yolo5"),
    ):
        role = iam.get_role(RoleName=role_name)["Role"]
        principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        assert principal == {"Service": "ec2.amazonaws.com"}
        assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == [policy]
        profiles = iam.list_instance_profiles_for_role(RoleName=role_name)["InstanceProfiles"]
        assert len(profiles) == 1


def test_data_outputs_are_exactly_what_local_mode_reads(stacks):
    names = set(stacks.out["data"])
    assert names >= DATA_OUTPUTS_LOCAL_MODE_READS
    assert names - DATA_OUTPUTS_LOCAL_MODE_READS <= DATA_OUTPUTS_EXTRA
    assert stacks.out["data"]["BotTokenSecretName"] == f"{stacks.prefix}/telegram-bot-token"


def test_app_outputs_cover_what_the_pipeline_imports(stacks):
    app = stacks.out["app"]
    assert set(app) >= APP_OUTPUTS_THE_PIPELINE_NEEDS
    assert (app["PolybotFleetTagKey"], app["BlueFleetTagValue"], app["GreenFleetTagValue"]) == (
        "Fleet",
        "blue",
        "green",
    )
    assert app["WebhookUrl"] == f"https://{app['PublicLoadBalancerDnsName']}/telegram/webhook"


def test_every_output_is_exported_under_its_stack_name(stacks):
    exports = stacks.exports()
    for kind, outputs in stacks.out.items():
        for key, value in outputs.items():
            assert exports[f"{stacks.stack_name(kind)}-{key}"] == value


def test_dashboard_is_valid_json_over_our_queue_group_and_alb(stacks):
    cloudwatch = stacks.client("cloudwatch")
    name = stacks.out["observability"]["DashboardName"]
    body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    text = json.dumps(body)
    for needle in (
        stacks.out["data"]["JobsQueueName"],
        stacks.out["data"]["DeadLetterQueueName"],
        stacks.out["app"]["WorkerAutoScalingGroupName"],
        f"app/{stacks.prefix}-public/",
        "HTTPCode_ELB_5XX_Count",
        "TargetResponseTime",
        "ApproximateAgeOfOldestMessage",
        "GroupInServiceInstances",
        "CPUUtilization",
    ):
        assert needle in text, needle
    assert all(w["properties"]["region"] == "us-east-1" for w in body["widgets"])


def test_without_a_certificate_there_is_no_https_listener_yet(moto_server):
    """Phase one of the self-signed path: the ALB exists, its DNS name names the certificate."""
    stacks = MotoStacks(moto_server)
    out = stacks.deploy_all()
    elbv2 = stacks.client("elbv2")
    lb = _load_balancer(elbv2, f"{stacks.prefix}-public")
    assert elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] == []
    assert "HttpsListenerArn" not in out["app"]
    assert out["app"]["PublicLoadBalancerDnsName"] == lb["DNSName"]


def test_a_domain_whose_zone_is_elsewhere_gets_no_record_and_is_the_public_url(moto_server):
    """--domain-name with --certificate-arn and no zone: the webhook is the domain, and the
    record is made by hand in the account that holds the zone."""
    stacks = MotoStacks(moto_server)
    issued = stacks.client("acm").request_certificate(DomainName="bot.example.com")
    stacks.deploy("network", "network.yaml")
    stacks.deploy("data", "data.yaml")
    params = stacks.app_parameters(certificate_arn=issued["CertificateArn"])
    out = stacks.deploy("app", "app.yaml", DomainName="bot.example.com", **params)

    assert out["WebhookUrl"] == "https://bot.example.com/telegram/webhook"
    assert out["PublicUrl"] == "https://bot.example.com"
    resources = stacks.cloudformation.list_stack_resources(StackName=stacks.stack_name("app"))
    types = {r["ResourceType"] for r in resources["StackResourceSummaries"]}
    assert "AWS::Route53::RecordSet" not in types
    assert "AWS::CertificateManager::Certificate" not in types
    ec2 = stacks.client("ec2")
    [version] = ec2.describe_launch_template_versions(
        LaunchTemplateName=f"{stacks.prefix}-polybot"
    )["LaunchTemplateVersions"]
    script = base64.b64decode(version["LaunchTemplateData"]["UserData"]).decode()
    assert "\nPUBLIC_URL=https://bot.example.com\n" in script
    listener_arn = out["HttpsListenerArn"]
    [listener] = stacks.client("elbv2").describe_listeners(ListenerArns=[listener_arn])["Listeners"]
    assert listener["Certificates"] == [{"CertificateArn": issued["CertificateArn"]}]
