"""One emulator per test module, and a real TeleBot pointed at it."""

from __future__ import annotations

import pytest
import telebot

from tests.support.emulator import running_emulator, telebot_pointed_at


@pytest.fixture(scope="module")
def running():
    with running_emulator() as handle:
        yield handle


@pytest.fixture(scope="module")
def emulator(running):
    """The running emulator; modules that put a webhook receiver in front override this."""
    return running


@pytest.fixture
def bot(emulator):
    emulator.reset()
    with telebot_pointed_at(emulator):
        yield telebot.TeleBot(emulator.token, threaded=False)
