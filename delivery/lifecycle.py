"""CodeDeploy's EC2 lifecycle events that run hooks, in order, and what its agent hands a hook.

From "AppSpec 'hooks' section for an EC2/On-Premises deployment": the events whose hooks an
appspec may list, the order the agent runs them in, and the environment variables a hook
script sees. Both hook runners read them from here: the delivery rehearsal
(rehearsal/instance.py) and the hook tests' harness (tests/delivery/hook_harness.py).
Standard library only; deployment_group.py (the Lambda package's handler) does not import it.
"""

from __future__ import annotations

# On an instance of an in-place deployment, and on a blue/green replacement instance before
# it takes traffic. ApplicationStop runs the previous revision's script, if there was one.
IN_PLACE = (
    "ApplicationStop",
    "BeforeInstall",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
)
# Around the load balancer's registration of a replacement instance (blue/green).
ALLOW_TRAFFIC = ("BeforeAllowTraffic", "AfterAllowTraffic")
# Around the deregistration of an original instance.
BLOCK_TRAFFIC = ("BeforeBlockTraffic", "AfterBlockTraffic")
# What a blue/green replacement instance runs, in order.
BLUE_GREEN = (*IN_PLACE, *ALLOW_TRAFFIC)


def agent_env(event: str, deployment_id: str, application: str, group: str) -> dict[str, str]:
    """The variables the agent sets for a hook script ("Environment variable availability for
    hooks"), added to the agent's own environment."""
    return {
        "LIFECYCLE_EVENT": event,
        "DEPLOYMENT_ID": deployment_id,
        "APPLICATION_NAME": application,
        "DEPLOYMENT_GROUP_NAME": group,
    }
