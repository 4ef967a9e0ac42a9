"""The emulator's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from common.env import env_int, env_str
from local.config import EMULATOR_PORT


@dataclass(frozen=True)
class Settings:
    token: str
    port: int = EMULATOR_PORT
    log_level: str = "INFO"
    # Loopback unless told otherwise: the delivery rehearsal's containers reach the host at
    # the podman bridge's gateway, so it serves the emulator there too.
    host: str = "127.0.0.1"

    def __repr__(self) -> str:  # the token must never reach a log line
        return (
            f"Settings(token=***, host={self.host!r}, port={self.port}, "
            f"log_level={self.log_level!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            token=env_str("EMULATOR_TOKEN", env=env),
            port=env_int("EMULATOR_PORT", cls.port, env=env, lo=1, hi=65535),
            log_level=env_str("LOG_LEVEL", cls.log_level, env=env),
            host=env_str("EMULATOR_HOST", cls.host, env=env),
        )
