"""How a job fails for good (tell the user, drop the job); any other error is retried later."""

from __future__ import annotations

from botocore.exceptions import ClientError

from common.contracts import Failure, FailureReason


class PermanentJobError(Exception):
    """Retrying cannot help. `failure` is recorded on the item; polybot words it for the user.

    The keyword arguments are the measures the reply quotes (Failure's fields), e.g.
    PermanentJobError(FailureReason.TOO_LARGE, size_bytes=n).
    """

    def __init__(self, reason: FailureReason, **measures: int) -> None:
        self.failure = Failure(reason, **measures)
        super().__init__(str(self.failure))


def error_code(exc: BaseException | None) -> str:
    """What went wrong, as a value to match on: AWS's error code, or the exception's type."""
    if isinstance(exc, ClientError):
        return str(exc.response["Error"].get("Code"))
    return type(exc).__name__


def describe(exc: BaseException | None) -> str:
    if isinstance(exc, ClientError):
        return f"{exc.response['Error'].get('Code')}: {exc.response['Error'].get('Message')}"
    return f"{type(exc).__name__}: {exc}"
