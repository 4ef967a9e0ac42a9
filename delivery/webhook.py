"""Register the Telegram webhook once, from the pipeline, on one instance of the new fleet.

Why here: the running polybot container on the fleet that just took the traffic already has
the exact environment, secret access and certificate path the registration needs, and the
pipeline's fleet switch is the one place that knows a polybot release succeeded. SSM Run
Command reaches that container without opening any port.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from delivery.fleets import SwitchError

log = logging.getLogger(__name__)

COMMAND = "docker exec polybot python -m polybot.register_webhook"
# SSM Run Command statuses after which an invocation will not change (success or not).
FINAL_STATUSES = {"Success", "Failed", "Cancelled", "TimedOut", "Cancelling"}


def register_via_ssm(
    ssm,
    instance_id: str,
    timeout_s: float = 300,
    poll_s: float = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    command = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Comment="polybot: register the Telegram webhook after a deployment",
        Parameters={"commands": [COMMAND]},
        TimeoutSeconds=max(30, int(timeout_s)),
    )["Command"]["CommandId"]
    log.info("webhook registration: SSM command %s on %s", command, instance_id)
    waited = 0.0
    while waited <= timeout_s:
        try:
            reply = ssm.get_command_invocation(CommandId=command, InstanceId=instance_id)
        except ClientError as err:
            # The invocation appears a moment after send_command returns.
            if err.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise
        else:
            if reply["Status"] in FINAL_STATUSES:
                if reply["Status"] != "Success":
                    raise SwitchError(
                        f"the deployment succeeded but registering the webhook on {instance_id} "
                        f"ended {reply['Status']}: {reply.get('StandardErrorContent', '')[-500:]}"
                    )
                log.info("webhook registered from %s", instance_id)
                return
        sleep(poll_s)
        waited += poll_s
    raise SwitchError(f"webhook registration on {instance_id} did not finish in {timeout_s}s")
