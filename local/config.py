"""Local mode's settings: the fixed default ports and where the running stack keeps its state.

The local ports' defaults are written here. local/up.py hands them to every process of the
stack through the environment, and the emulator's settings import EMULATOR_PORT for when it
runs on its own. polybot's own default port, 8443, is in polybot/gunicorn.conf.py: product
code cannot import local mode, and the Dockerfile, the CodeDeploy hook settings and the
CloudFormation template repeat it because they cannot import Python at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from common.env import env_int, env_opt_int, env_str

ROOT = Path(__file__).resolve().parent.parent
DATA_TEMPLATE = ROOT / "cloudformation" / "data.yaml"
PROCFILE = ROOT / "local" / "Procfile"
MOTO_PORT = 5000
EMULATOR_PORT = 8081
POLYBOT_PORT = 8443


@dataclass(frozen=True)
class LocalConfig:
    moto_port: int
    emulator_port: int
    polybot_port: int
    state_dir: Path
    region: str
    prefix: str
    # Tests shorten the jobs queue's visibility timeout (a data template parameter, >= 30 s)
    # so a killed worker's job comes back quickly; unset keeps the template's default.
    job_visibility_timeout: int | None = None

    @classmethod
    def from_env(cls, env=os.environ) -> LocalConfig:
        return cls(
            moto_port=env_int("MOTO_PORT", MOTO_PORT, env=env, lo=1, hi=65535),
            emulator_port=env_int("EMULATOR_PORT", EMULATOR_PORT, env=env, lo=1, hi=65535),
            polybot_port=env_int("POLYBOT_PORT", POLYBOT_PORT, env=env, lo=1, hi=65535),
            state_dir=Path(env_str("LOCAL_STATE_DIR", str(ROOT / ".cache" / "local"), env=env)),
            region=env_str("AWS_REGION", "us-east-1", env=env),
            prefix=env_str("LOCAL_PREFIX", "polybot-local", env=env),
            job_visibility_timeout=env_opt_int("LOCAL_JOB_VISIBILITY_TIMEOUT", env),
        )

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def polybot_url(self) -> str:
        return f"http://127.0.0.1:{self.polybot_port}"

    @property
    def outputs_file(self) -> Path:
        """Written by bootstrap once the data stack exists; the services wait for it."""
        return self.state_dir / "stack.env"

    @property
    def ready_file(self) -> Path:
        """Written by bootstrap once the webhook is registered: the stack serves."""
        return self.state_dir / "ready"

    def ports(self) -> dict[str, int]:
        return {
            "moto": self.moto_port,
            "emulator": self.emulator_port,
            "polybot": self.polybot_port,
        }
