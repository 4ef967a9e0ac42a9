"""An instance as CodeDeploy's agent sees it: the env file user data writes, and the hooks.

The env files are read out of the app template's user data (cloudformation/app.yaml), so the
rehearsal runs the containers with the keys an instance has, and a key added there reaches
the rehearsal without a second copy. Each `${...}` is filled with the rehearsal's value.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from delivery.lifecycle import IN_PLACE, agent_env

APP_TEMPLATE = Path(__file__).resolve().parent.parent / "cloudformation" / "app.yaml"
# The events whose hooks the rehearsal runs, in CodeDeploy's order: one instance, no load
# balancer, so no traffic hooks.
LIFECYCLE = IN_PLACE


class UnknownSubstitution(KeyError):
    pass


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub ...) read as their plain values."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return loader.construct_scalar(node)


_TemplateLoader.add_multi_constructor("!", _untagged)


def polybot_port(template: Path = APP_TEMPLATE) -> int:
    """polybot's port on an instance, where the app template names it once (its Mappings)."""
    mappings = yaml.load(template.read_text(), Loader=_TemplateLoader)["Mappings"]  # noqa: S506 - a SafeLoader
    return int(mappings["Polybot"]["Instance"]["Port"])


def user_data_env(service: str, values: Mapping[str, str], template: Path = APP_TEMPLATE) -> str:
    """The text user data writes to /etc/polybot/<service>.env, with `${...}` filled in."""
    pattern = re.compile(
        rf"cat > /etc/polybot/{re.escape(service)}\.env <<'ENV'\n(.*?)\n[ \t]*ENV\n", re.S
    )
    match = pattern.search(template.read_text())
    if not match:
        raise ValueError(f"no /etc/polybot/{service}.env heredoc in {template}")

    def fill(m: re.Match) -> str:
        if m.group(1) not in values:
            raise UnknownSubstitution(m.group(1))
        return values[m.group(1)]

    lines = [line.strip() for line in match.group(1).splitlines() if line.strip()]
    return "".join(re.sub(r"\$\{([^}]+)\}", fill, line) + "\n" for line in lines)


@dataclass(frozen=True)
class Hook:
    event: str
    script: Path
    timeout: int
    runas: str


def hooks(bundle: Path) -> list[Hook]:
    """The bundle's hooks in lifecycle order, as its appspec.yml declares them."""
    spec = yaml.safe_load((bundle / "appspec.yml").read_text())
    declared = spec.get("hooks") or {}
    unknown = set(declared) - set(LIFECYCLE)
    if unknown:
        raise ValueError(f"{bundle}/appspec.yml: hooks for unknown events {sorted(unknown)}")
    found = []
    for event in LIFECYCLE:
        for entry in declared.get(event) or []:
            found.append(
                Hook(
                    event,
                    bundle / entry["location"],
                    int(entry.get("timeout", 3600)),
                    entry.get("runas", "root"),
                )
            )
    return found


@dataclass
class HookRun:
    event: str
    returncode: int
    seconds: float
    output: str


def run_hook(
    hook: Hook, env: Mapping[str, str], deployment_id: str, application: str, group: str
) -> HookRun:
    """One hook as the CodeDeploy agent runs it: from the bundle, as root, with its timeout and
    the agent's environment variables ("AppSpec 'hooks' section": environment variable
    availability for hooks)."""
    if hook.runas != "root" or os.geteuid() != 0:
        raise RuntimeError(f"{hook.script.name}: the rehearsal runs hooks as root only")
    started = time.monotonic()
    try:
        result = subprocess.run(
            ["bash", str(hook.script)],
            cwd=hook.script.parent.parent,
            env={**env, **agent_env(hook.event, deployment_id, application, group)},
            capture_output=True,
            text=True,
            timeout=hook.timeout,
            check=False,
        )
        code, output = result.returncode, result.stdout + result.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = 124, f"{exc.stdout or ''}{exc.stderr or ''}\ntimed out after {hook.timeout}s"
    return HookRun(hook.event, code, time.monotonic() - started, output)
