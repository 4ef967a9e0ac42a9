"""Runs an appspec's hooks like the CodeDeploy agent, against recording stand-ins for docker,
aws and curl put first on PATH. Each stand-in appends its argv to calls.log and answers
plausibly; its state (which containers exist) lives in a directory, so reruns see it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from delivery.lifecycle import BLUE_GREEN, IN_PLACE, agent_env

__all__ = ["BLUE_GREEN", "IN_PLACE", "ROOT", "Harness", "assemble_bundle", "make_harness"]
ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
PASSWORD = "ecr-password-never-in-argv"

STAND_IN = r"""#!/usr/bin/env bash
set -u
name="$(basename "$0")"
printf '%s %s\n' "$name" "$*" >>"$HARNESS/calls.log"
state="$HARNESS/state"
case "$name $*" in
  "aws ecr get-login-password"*) printf '%s' "$ECR_PASSWORD" ;;
  "docker login"*) cat >"$HARNESS/login.stdin" ;;
  "docker inspect --type container --format"*)
    [[ -e "$state/${!#}" ]] || exit 1
    echo "${FAKE_HEALTH:-healthy}" ;;
  "docker inspect"*) [[ -e "$state/${!#}" ]] || exit 1 ;;
  "docker run"*)
    args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
      [[ "${args[i]}" == --name ]] && touch "$state/${args[i + 1]}"
    done
    echo 0123abcd ;;
  "docker rm"*) rm -f "$state/${!#}" ;;
  "curl "*api/token*) echo imds-token ;;
  "curl "*placement/region*) echo us-east-1 ;;
  "curl "*/healthz*)
    [[ "${FAKE_HEALTHZ:-ok}" == ok ]] || exit 22
    printf '{"status":"ok","version":"%s"}\n' "${FAKE_VERSION:-unknown}" ;;
esac
exit 0
"""


@dataclass
class Harness:
    root: Path
    bundle: Path
    env: dict[str, str]
    hooks: dict[str, list[dict]]
    service: str

    def calls(self) -> list[str]:
        log = self.root / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def reset_calls(self) -> None:
        (self.root / "calls.log").unlink(missing_ok=True)

    def containers(self) -> list[str]:
        return sorted(p.name for p in (self.root / "state").iterdir())

    def run(self, event: str, **env: str) -> subprocess.CompletedProcess:
        """One lifecycle event: every script listed for it, in order; stops at a failure."""
        result = subprocess.CompletedProcess([], 0, "", "")
        for script in self.hooks.get(event, []):
            result = subprocess.run(
                [str(self.bundle / script["location"])],
                cwd=self.bundle,
                env={**self.env, **self.agent_env(event), **env},
                capture_output=True,
                text=True,
                timeout=script["timeout"],
                check=False,
            )
            if result.returncode != 0:
                break
        return result

    def agent_env(self, event: str) -> dict[str, str]:
        return agent_env(
            event, "d-TEST12345", f"pipeline-{self.service}", f"pipeline-{self.service}-group"
        )

    def deploy(self, order: tuple[str, ...], **env: str) -> dict[str, int]:
        codes = {}
        for event in order:
            codes[event] = self.run(event, **env).returncode
            if codes[event]:
                break
        return codes


def assemble_bundle(service: str, dest: Path, appspecs: Path = ROOT / "appspecs") -> None:
    """The bundle exactly as buildspecs/build.yml assembles it: appspecs/bundle.sh."""
    subprocess.run(
        ["bash", str(appspecs / "bundle.sh"), service, str(dest)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


def make_harness(tmp: Path, service: str, image: str) -> Harness:
    """A bundle as the build emits it (appspec + hooks + image.env), stand-ins and env."""
    bundle = tmp / "bundle"
    assemble_bundle(service, bundle)
    (bundle / "image.env").write_text(f"IMAGE_URI={image}\n")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name in ("docker", "aws", "curl"):
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(0o755)
    (tmp / "state").mkdir()
    env_file = tmp / f"{service}.env"
    env_file.write_text("AWS_REGION=us-east-1\n")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HARNESS": str(tmp),
        "ECR_PASSWORD": PASSWORD,
        "SERVICE_ENV_FILE": str(env_file),
        "VALIDATE_ATTEMPTS": "3",
        "VALIDATE_DELAY": "0",
        # What the stand-in's /healthz reports: the commit the image's tag names, as the
        # image built by buildspecs/build.yml does.
        "FAKE_VERSION": image.rsplit(":", 1)[1],
    }
    spec = yaml.safe_load((bundle / "appspec.yml").read_text())
    return Harness(tmp, bundle, env, spec["hooks"], service)
