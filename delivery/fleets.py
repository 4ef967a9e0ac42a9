"""Which tagged polybot fleet serves traffic, and which one the next release goes to."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Target states of an instance that is (still) registered in the target group.
REGISTERED = {"initial", "healthy", "unhealthy", "unavailable"}
LIVE = {"pending", "running", "stopping", "stopped"}
# Reason of the `unused` state when no listener forwards to the target group (see target_states).
NOT_IN_USE = "Target.NotInUse"


class SwitchError(RuntimeError):
    """The switch cannot (or must not) go on; the message says why and what to do."""


@dataclass(frozen=True)
class Fleet:
    value: str  # the Fleet tag value, e.g. "blue"
    instances: dict[str, str]  # instance id -> EC2 state name

    @property
    def not_running(self) -> list[str]:
        return sorted(i for i, state in self.instances.items() if state != "running")


@dataclass(frozen=True)
class Plan:
    original: Fleet  # serving now (or registered but not yet healthy)
    target: Fleet  # gets the new release, then the traffic
    reason: str


def describe_fleet(ec2, tag_key: str, value: str, extra_tags: dict[str, str]) -> Fleet:
    filters = [{"Name": f"tag:{tag_key}", "Values": [value]}]
    filters += [{"Name": f"tag:{k}", "Values": [v]} for k, v in extra_tags.items()]
    filters.append({"Name": "instance-state-name", "Values": sorted(LIVE)})
    instances = {}
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            for inst in reservation["Instances"]:
                instances[inst["InstanceId"]] = inst["State"]["Name"]
    return Fleet(value, instances)


def target_states(elbv2, target_group_arn: str) -> dict[str, str]:
    """Instance id -> target health state, for every target the group knows.

    Refuses a target group that no listener uses yet. Elastic Load Balancing API Reference,
    "TargetHealth": state `unused` with reason `Target.NotInUse` means "the target group is not
    used by any load balancer or the target is in an Availability Zone that is not enabled for
    its load balancer". The public target group is in that state until certificate.sh adds the
    HTTPS listener. No fleet can be told serving from not serving then, no health check runs, so
    CodeDeploy could never see the new fleet healthy, and Telegram could not reach it anyway.
    (`unused` for another reason, e.g. `Target.InvalidState` of a stopped instance, is simply
    neither registered-and-checked nor healthy.)
    """
    reply = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
    descriptions = reply["TargetHealthDescriptions"]
    not_in_use = sorted(
        d["Target"]["Id"]
        for d in descriptions
        if d["TargetHealth"]["State"] == "unused" and d["TargetHealth"].get("Reason") == NOT_IN_USE
    )
    if not_in_use:
        raise SwitchError(
            f"the public target group is not used by any listener yet (targets "
            f"{' '.join(not_in_use)} are unused, {NOT_IN_USE}): run cloudformation/certificate.sh "
            "first, which adds the HTTPS listener, then rerun the stage. If the listener exists, "
            "those instances are in an Availability Zone the load balancer does not use"
        )
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in descriptions}


def plan_switch(blue: Fleet, green: Fleet, states: dict[str, str]) -> Plan:
    """Serving = a fleet with a healthy registered instance; the release goes to the other one."""

    def has(fleet: Fleet, wanted: set[str]) -> bool:
        return any(states.get(i) in wanted for i in fleet.instances)

    serving = [f for f in (blue, green) if has(f, {"healthy"})]
    registered = [f for f in (blue, green) if has(f, REGISTERED)]
    other = {blue.value: green, green.value: blue}
    if len(serving) == 2:
        raise SwitchError(
            f"both fleets ({blue.value} and {green.value}) have healthy instances in the public "
            "target group; deregister one fleet by hand, then rerun the stage"
        )
    if serving:
        original = serving[0]
        reason = f"{original.value} is serving"
    elif len(registered) == 1:
        original = registered[0]
        reason = f"nothing serves yet; {original.value} is registered but not healthy"
    elif not registered:
        original = green  # nothing registered: the release starts on blue
        reason = "nothing serves or is registered yet"
    else:
        original = blue  # both registered, neither healthy: replace blue by green
        reason = "nothing serves yet; both fleets are registered"
    target = other[original.value]
    check_target(target)
    if original.not_running:
        log.warning(
            "serving fleet %s has instances not running: %s",
            original.value,
            ", ".join(original.not_running),
        )
    return Plan(original, target, reason)


def check_target(target: Fleet) -> None:
    if not target.instances:
        raise SwitchError(f"fleet {target.value} has no instances: nothing to deploy to")
    if target.not_running:
        ids = " ".join(target.not_running)
        raise SwitchError(
            f"fleet {target.value} has instances that are not running ({ids}); CodeDeploy "
            f"would fail on them. Start them (aws ec2 start-instances --instance-ids {ids}) "
            "or replace them, then rerun the stage"
        )
