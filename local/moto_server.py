"""`python -m local.moto_server -H HOST -p PORT`: moto's own server, with two speed fixes.

Both keep moto's behaviour and only remove work it repeats on every request; both are plain
attribute swaps, and if a moto upgrade moves what they replace, the server starts unpatched
and says so.

1. moto's SQS walks every message of a queue on each SendMessage, ReceiveMessage and
GetQueueAttributes (its source says as much), and for every message it asks the clock through
datetime arithmetic (moto.core.utils.unix_time_millis: two datetimes and a subtraction). With a
backlog of 1,500 jobs that made one SendMessage cost tens of milliseconds of CPU, so the local
stack measured moto, not polybot or the worker (real SQS does not slow down with depth). The
fix hands moto.sqs the same number from time.time(): same value, a fraction of the cost.
2. To route each request, moto lists its own package directory (a listdir and an isdir per
service, ~150 system calls) while holding its dispatcher lock. What is installed cannot change
while the server runs, so the list is read once.

It also leaves out moto's access log (a line per AWS call, some 180 lines a second under the
benchmark's load, each relayed by honcho): the services log what they do with AWS themselves.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("local.moto_server")


def fast_unix_time_millis(original):
    def unix_time_millis(dt=None) -> float:
        return time.time() * 1000.0 if dt is None else original(dt)

    return unix_time_millis


def listed_once(original):
    modules = tuple(original())

    def list_of_moto_modules():
        return modules

    return list_of_moto_modules


def patch_sqs_clock() -> bool:
    """Fix 1: moto.sqs reads the clock without datetime arithmetic."""
    from moto.sqs import models

    return _replace(models, "unix_time_millis", fast_unix_time_millis)


def patch_module_listing() -> bool:
    """Fix 2: moto's list of service modules is read once instead of on every request."""
    from moto import backends

    return _replace(backends, "list_of_moto_modules", listed_once)


def _replace(module, name: str, make) -> bool:
    """module.name = make(original), once (the replacement keeps `.original`); False, and a
    warning, when this moto has no such attribute."""
    original = getattr(module, name, None)
    if original is None:
        log.warning("%s.%s not found; moto runs without this fix", module.__name__, name)
        return False
    if not hasattr(original, "original"):
        replacement = make(original)
        replacement.original = original
        setattr(module, name, replacement)
    return True


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    patch_sqs_clock()
    patch_module_listing()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from moto.server import main as moto_main

    moto_main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
