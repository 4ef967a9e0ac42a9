"""Static checks of the appspecs, hook scripts, buildspecs and their wiring to the pipeline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cfnlint.decode import decode

from tests.delivery.hook_harness import BLUE_GREEN, IN_PLACE, ROOT

# Every hook CodeDeploy runs for EC2/on-premises, in lifecycle order (in place, then traffic).
EC2_HOOKS = [*BLUE_GREEN, "BeforeBlockTraffic", "AfterBlockTraffic"]
APPSPECS = sorted((ROOT / "appspecs").glob("*/appspec.yml"))
BUILDSPECS = sorted((ROOT / "buildspecs").glob("*.yml"))
SCRIPTS = sorted((ROOT / "appspecs").glob("*/hooks/*.sh"))


def git_mode(path: Path) -> str | None:
    out = subprocess.run(
        ["git", "ls-files", "-s", "--", str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[0] if out else None


def test_both_services_have_an_appspec():
    assert [p.parent.name for p in APPSPECS] == ["polybot", "yolo5"]


@pytest.mark.parametrize("appspec", APPSPECS, ids=lambda p: p.parent.name)
def test_appspec_schema(appspec):
    text = appspec.read_text()
    spec = yaml.safe_load(text)
    assert re.search(r"^version: 0\.0$", text, re.M), "appspec version must be 0.0"
    assert spec["os"] == "linux"
    hooks = list(spec["hooks"])
    assert set(hooks) <= set(EC2_HOOKS), set(hooks) - set(EC2_HOOKS)
    assert hooks == [h for h in EC2_HOOKS if h in hooks], "hooks not in lifecycle order"
    assert {"ApplicationStop", "ApplicationStart", "ValidateService"} <= set(hooks)
    for event, scripts in spec["hooks"].items():
        for script in scripts:
            assert 1 <= script["timeout"] <= 3600, (event, script)
            path = appspec.parent / script["location"]
            assert path.is_file(), f"{event}: {path} missing"
            assert path.stat().st_mode & 0o111, f"{path} not executable"
            mode = git_mode(path)
            assert mode in (None, "100755"), f"{path} is {mode} in git, needs 100755"


def test_polybot_hooks_fit_blue_green_and_yolo5_in_place():
    polybot, yolo5 = (yaml.safe_load(p.read_text())["hooks"] for p in APPSPECS)
    assert set(polybot) <= set(BLUE_GREEN)
    assert set(yolo5) <= set(IN_PLACE)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_hook_scripts_are_strict(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    if script.name != "common.sh":
        assert "set -euo pipefail" in text
        assert 'source "$(dirname "${BASH_SOURCE[0]}")/common.sh"' in text


def test_shellcheck_is_clean_on_every_hook_script():
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run(
        [str(shellcheck), "-x", *map(str, SCRIPTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("buildspec", BUILDSPECS, ids=lambda p: p.name)
def test_buildspec_schema_and_no_floating_tag(buildspec):
    text = buildspec.read_text()
    spec = yaml.safe_load(text)
    assert str(spec["version"]) == "0.2"
    assert set(spec["phases"]) <= {"install", "pre_build", "build", "post_build"}
    assert not re.search(r"latest", text, re.I), "no floating tag anywhere in a deploy path"


def test_pipeline_wiring_matches_the_buildspecs():
    template, errors = decode(str(ROOT / "cloudformation" / "pipeline.yaml"))
    assert not errors
    assert "latest" not in (ROOT / "cloudformation" / "pipeline.yaml").read_text().lower()
    resources = template["Resources"]
    stages = {s["Name"]: s["Actions"] for s in resources["Pipeline"]["Properties"]["Stages"]}
    assert list(stages) == ["Source", "Test", "Build", "Deploy"]
    build_outputs = {a["Name"] for a in stages["Build"][0]["OutputArtifacts"]}
    build = yaml.safe_load((ROOT / "buildspecs" / "build.yml").read_text())
    assert set(build["artifacts"]["secondary-artifacts"]) == build_outputs
    deploy = {a["Name"]: a for a in stages["Deploy"]}
    assert deploy["Yolo5InPlace"]["InputArtifacts"] == [{"Name": "Yolo5Bundle"}]
    polybot_inputs = [i["Name"] for i in deploy["PolybotBlueGreen"]["InputArtifacts"]]
    assert "PolybotBundle" in polybot_inputs
    assert "CODEBUILD_SRC_DIR_PolybotBundle" in (ROOT / "buildspecs/deploy-polybot.yml").read_text()
    for project in ("TestProject", "BuildProject", "DeployPolybotProject"):
        spec_path = resources[project]["Properties"]["Source"]["BuildSpec"]
        assert (ROOT / spec_path).is_file(), spec_path
