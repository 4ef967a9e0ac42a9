"""Static checks of the appspecs, hook scripts, buildspecs and their wiring to the pipeline."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cfnlint.decode import decode

from delivery.lifecycle import BLOCK_TRAFFIC, BLUE_GREEN, IN_PLACE
from tests.delivery.hook_harness import ROOT, assemble_bundle
from tests.support.git import git_mode

# Every hook CodeDeploy runs for EC2/on-premises, in lifecycle order (in place, then traffic).
EC2_HOOKS = [*BLUE_GREEN, *BLOCK_TRAFFIC]
APPSPECS = sorted((ROOT / "appspecs").glob("*/appspec.yml"))
SERVICES = [p.parent.name for p in APPSPECS]
BUILDSPECS = sorted((ROOT / "buildspecs").glob("*.yml"))
SCRIPTS = sorted((ROOT / "appspecs").glob("**/*.sh"))
SHARED_HOOKS = ROOT / "appspecs" / "shared" / "hooks"
# Sourced by the hooks, never run by CodeDeploy.
SOURCED = {"lib.sh", "settings.sh"}


def test_both_services_have_an_appspec():
    assert [p.parent.name for p in APPSPECS] == ["polybot", "yolo5"]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """Each service's bundle as the build assembles it (appspecs/bundle.sh)."""
    root = tmp_path_factory.mktemp("bundles")
    for service in SERVICES:
        assemble_bundle(service, root / service)
    return {service: root / service for service in SERVICES}


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def source_of(service: str, location: str) -> Path:
    """Where a bundled file comes from: the service's own directory or the shared one."""
    own = ROOT / "appspecs" / service / location
    return own if own.exists() else ROOT / "appspecs" / "shared" / location


@pytest.mark.parametrize("appspec", APPSPECS, ids=lambda p: p.parent.name)
def test_appspec_schema(appspec, bundles):
    bundle = bundles[appspec.parent.name]
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
            path = bundle / script["location"]
            assert path.is_file(), f"{event}: {script['location']} missing from the bundle"
            assert path.stat().st_mode & 0o111, f"{path} not executable"


def test_polybot_hooks_fit_blue_green_and_yolo5_in_place():
    polybot, yolo5 = (yaml.safe_load(p.read_text())["hooks"] for p in APPSPECS)
    assert set(polybot) <= set(BLUE_GREEN)
    assert set(yolo5) <= set(IN_PLACE)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT / "appspecs")))
def test_scripts_are_strict(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    if script.name not in SOURCED:
        assert "set -euo pipefail" in text
    if script.parent.name == "hooks" and script.name not in SOURCED:
        assert 'source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"' in text
        assert "# shellcheck source=appspecs/shared/hooks/lib.sh" in text


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT / "appspecs")))
def test_scripts_are_executable_in_git(script):
    """Developers run the hooks from their checkout; the bundles get 0755 from bundle.sh."""
    assert git_mode(script) == "100755", f"{script} is not 100755 in git"


def test_bundles_are_executable_whatever_the_source_modes(appspecs_copy, tmp_path):
    """A source zip may lose mode bits (CODE_ZIP): bundle.sh must not depend on them."""
    for script in appspecs_copy.glob("**/*.sh"):
        script.chmod(0o644)
    for service in SERVICES:
        assemble_bundle(service, tmp_path / service, appspecs_copy)
        hooks = sorted((tmp_path / service / "hooks").glob("*.sh"))
        assert hooks
        assert all(hook.stat().st_mode & 0o111 for hook in hooks), service


@pytest.mark.parametrize("service", SERVICES)
def test_bundle_holds_the_shared_and_the_service_hooks(service, bundles):
    shipped = files_under(bundles[service])
    own = files_under(ROOT / "appspecs" / service)
    shared = [f"hooks/{name}" for name in files_under(SHARED_HOOKS)]
    assert shipped == sorted({*own, *shared})
    assert {"appspec.yml", "hooks/settings.sh", "hooks/lib.sh"} <= set(shipped)
    for rel in shipped:
        assert (bundles[service] / rel).read_bytes() == source_of(service, rel).read_bytes()


def test_shared_code_lives_only_in_the_shared_hooks():
    """No service redefines a shared function or carries a copy of a shared hook."""
    functions = set(re.findall(r"^(\w+)\(\)", (SHARED_HOOKS / "lib.sh").read_text(), re.M))
    assert {"log", "die", "image_uri", "ecr_login", "pull_image", "stop_container"} <= functions
    for service in SERVICES:
        for script in (ROOT / "appspecs" / service / "hooks").glob("*.sh"):
            assert not (SHARED_HOOKS / script.name).exists(), script
            defined = set(re.findall(r"^(\w+)\(\)", script.read_text(), re.M))
            assert not defined & functions, (script, defined & functions)


def test_bundle_rerun_gives_the_same_bundle(tmp_path):
    dest = tmp_path / "polybot"
    assemble_bundle("polybot", dest)
    first = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()}

    assemble_bundle("polybot", dest)

    assert {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()} == first


@pytest.fixture
def appspecs_copy(tmp_path) -> Path:
    """A scratch copy of appspecs/ to break on purpose (bundle.sh works from its own dir)."""
    return Path(shutil.copytree(ROOT / "appspecs", tmp_path / "appspecs"))


def bundle_error(appspecs: Path, service: str, dest: Path) -> str:
    with pytest.raises(subprocess.CalledProcessError) as failed:
        assemble_bundle(service, dest, appspecs)
    return failed.value.stderr


def test_bundle_refuses_a_service_file_shadowing_a_shared_one(appspecs_copy, tmp_path):
    shutil.copy(appspecs_copy / "shared/hooks/pull_image.sh", appspecs_copy / "yolo5/hooks")

    assert "yolo5/hooks/pull_image.sh shadows shared" in bundle_error(
        appspecs_copy, "yolo5", tmp_path / "out"
    )
    assert not (tmp_path / "out").exists()


def test_bundle_refuses_an_appspec_naming_a_missing_script(appspecs_copy, tmp_path):
    appspec = appspecs_copy / "polybot/appspec.yml"
    appspec.write_text(appspec.read_text().replace("hooks/pull_image.sh", "hooks/pull.sh"))

    assert "hooks/pull.sh, not in the bundle" in bundle_error(
        appspecs_copy, "polybot", tmp_path / "out"
    )


@pytest.mark.parametrize("service", ["shared", "nope"])
def test_bundle_refuses_what_is_not_a_service(service, tmp_path):
    assert f"no service {service}" in bundle_error(ROOT / "appspecs", service, tmp_path / "out")


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
