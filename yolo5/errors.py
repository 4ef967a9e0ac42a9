"""How a job can fail: permanently (tell the user, drop the job) or transiently (retry later)."""

from __future__ import annotations


class PermanentJobError(Exception):
    """Retrying cannot help. `reason` is shown to the user, so it is plain and short."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientJobError(Exception):
    """Something outside the job failed (AWS throttling, network, polybot down): retry later."""
