"""How a job fails for good (tell the user, drop the job); any other error is retried later."""

from __future__ import annotations


class PermanentJobError(Exception):
    """Retrying cannot help. `reason` is shown to the user, so it is plain and short."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
