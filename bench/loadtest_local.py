"""The load test's local target: photos through the Telegram emulator of a running `make up`.

Each photo gets its own chat, so "exactly one answer per photo" can be checked at the end.
Kept apart from bench/loadtest.py because it needs requests and the local harness, which the
AWS target (run from AWS CloudShell) must not import.
"""

from __future__ import annotations

import time

import requests

from bench.jobs import JobInjector, bound_to
from bench.loadtest import Target
from local.telegram_emulator.client import EmulatorClient


class LocalTarget(Target):
    uses_http = True

    def __init__(self, session, resources, emulator_url: str, photos, base_chat: int) -> None:
        injector = JobInjector(session, resources)
        super().__init__(injector)
        self.emulator, self.photos, self.base = emulator_url, photos, base_chat
        self.count = 0
        self._answered: set[int] = set()
        self._client = EmulatorClient(emulator_url, session=requests.Session())

    def start(self, count: int) -> None:
        self.count = count

    def send(self, http, index: int) -> int:
        photo = self.photos[index % len(self.photos)]
        answer = EmulatorClient(self.emulator, session=http).send_photo(self.base + index, photo)
        return int(answer.get("webhook_status") or 0)

    def messages(self, index: int) -> list[dict]:
        return self._client.messages(self.base + index)

    def done(self, misses: int = 5) -> int:
        """Checks the oldest unanswered chats first; answers come roughly in order, so a few
        unanswered ones in a row end the round (the final accounting checks every chat)."""
        for index in range(self.count):
            if misses == 0:
                break
            if index not in self._answered:
                if _photos(self.messages(index)):
                    self._answered.add(index)
                else:
                    misses -= 1
        return len(self._answered)

    def items(self) -> list[dict]:
        chats = range(self.base, self.base + self.count)
        items, kwargs = [], {}
        while True:
            page = self.table.scan(**kwargs)
            items += [i for i in page["Items"] if int(i.get("chat_id", -1)) in chats]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def answers(self) -> dict[str, int]:
        """Chats by number of annotated answers: "0", "1" or ">1"."""
        counted: dict[str, int] = {}
        for index in range(self.count):
            n = _photos(self.messages(index))
            key = "0" if n == 0 else "1" if n == 1 else ">1"
            counted[key] = counted.get(key, 0) + 1
        return counted


def _photos(messages: list[dict]) -> int:
    """Annotated replies; polybot's "Got it" acknowledgement is not an answer."""
    return sum(m.get("method") == "sendPhoto" for m in messages)


def local_target(photos, cfg=None, base_chat: int | None = None) -> LocalTarget:
    from local import harness
    from local.bootstrap import Resources
    from local.config import LocalConfig

    cfg = cfg or LocalConfig.from_env()
    if not cfg.outputs_file.exists():
        raise SystemExit(f"no local stack outputs at {cfg.outputs_file}: run `make up` first")
    outputs = harness.outputs(cfg)
    session = harness.session(cfg)
    resources = Resources(
        outputs["IMAGES_BUCKET"], outputs["PREDICTIONS_TABLE"], outputs["JOBS_QUEUE_URL"]
    )
    base = base_chat if base_chat is not None else int(time.time()) * 10_000
    return LocalTarget(bound_to(session, cfg.moto_url), resources, cfg.emulator_url, photos, base)
