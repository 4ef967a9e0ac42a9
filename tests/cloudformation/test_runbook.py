"""docs/demo.md's commands run as written: one region throughout, deploy.sh's own flags, the
load test's own arguments. (What the commands do is tested where they live: deploy.sh in this
package, the load test in tests/bench.)"""

from __future__ import annotations

import re
import shlex

import pytest

from bench.loadtest import parse
from tests.cloudformation.scripts import run_script
from tests.cloudformation.templates import ROOT

RUNBOOK = ROOT / "docs" / "demo.md"
VARIABLES = {"$PREFIX": "polybot", "$AWS_REGION": "eu-west-1"}


def commands() -> list[str]:
    """Each shell command in the runbook's bash blocks, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", RUNBOOK.read_text(), re.S)
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and line[0] != "#"]


def test_the_runbook_sets_one_region_and_every_aws_command_uses_it():
    text = RUNBOOK.read_text()
    assert "export AWS_REGION=" in text
    aws_calls = [
        c for line in commands() for c in re.findall(r"\baws [a-z0-9-]+ [a-z0-9-]+.*", line)
    ]
    assert len(aws_calls) >= 5
    for call in aws_calls:
        assert '--region "$AWS_REGION"' in call, call
    assert not re.search(r"--region (?!\"\$AWS_REGION\")", text)


def deploy_flags() -> set[str]:
    usage = run_script("deploy.sh", "--help", unset=set())
    assert usage.returncode == 0, usage.stderr
    return set(re.findall(r"^\s+(--[a-z-]+)", usage.stdout, re.M))


def test_every_deploy_sh_command_uses_its_real_flags():
    known = deploy_flags()
    runs = [c for c in commands() if "cloudformation/deploy.sh" in c]
    assert {"--status", "--repository"} <= {f for c in runs for f in re.findall(r"--[a-z-]+", c)}
    for command in runs:
        used = set(
            re.findall(r"(?<![\w-])--[a-z-]+", command.split("cloudformation/deploy.sh", 1)[1])
        )
        assert used <= known, (command, used - known)


def load_tests() -> list[list[str]]:
    found = []
    for command in commands():
        if "bench.loadtest" not in command:
            continue
        for variable, value in VARIABLES.items():
            command = command.replace(f'"{variable}"', value)
        words = shlex.split(command)
        found.append(words[words.index("bench.loadtest") + 1 :])
    return found


@pytest.mark.parametrize("argv", load_tests(), ids=" ".join)
def test_the_load_test_command_parses_as_written(argv):
    args = parse(argv)
    assert args.target == "aws" and args.no_reply
    assert (args.prefix, args.region) == ("polybot", "eu-west-1")


def test_the_readme_links_the_runbook():
    readme = (ROOT / "README.md").read_text()
    assert "(docs/demo.md)" in readme
