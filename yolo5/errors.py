"""How a job fails for good (tell the user, drop the job); any other error is retried later."""

from __future__ import annotations

from common.contracts import Failure, FailureReason


class PermanentJobError(Exception):
    """Retrying cannot help. `failure` is recorded on the item; polybot words it for the user.

    The keyword arguments are the measures the reply quotes (Failure's fields), e.g.
    PermanentJobError(FailureReason.TOO_LARGE, size_bytes=n).
    """

    def __init__(self, reason: FailureReason, **measures: int) -> None:
        self.failure = Failure(reason, **measures)
        super().__init__(str(self.failure))
