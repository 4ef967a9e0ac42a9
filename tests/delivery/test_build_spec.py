"""buildspecs/build.yml run through the buildspec runner (`python -m tools.buildspec`) in a copy
of the source tree, against recording stand-ins for docker and aws (no container engine, no
network). The stand-ins are the hook harness's, plus what a registry remembers: the tags pushed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.delivery.hook_harness import PASSWORD, REGISTRY, ROOT, STAND_IN, assemble_bundle

SHA = "5d41402abc4b2a76b9719d911017c592fe11ab0c"
NEXT_SHA = "7c4a8d09ca3762af61e59520943dc26494f8941b"
REPOSITORIES = {"polybot": f"{REGISTRY}/p/polybot", "yolo5": f"{REGISTRY}/p/yolo5"}
BUNDLES = {"polybot": "PolybotBundle", "yolo5": "Yolo5Bundle"}
MIRRORS = {
    "TORCH_INDEX_URL": "http://mirror.invalid:8081/torch/simple",
    "WEIGHTS_URL": "http://mirror.invalid:8081/weights/v7.0",
}
# Not in CodeBuild's source (a zip of the commit): local, generated or big (model weights).
NOT_SOURCE = shutil.ignore_patterns(
    ".venv",
    ".git",
    ".cache",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "*.egg-info",
    "*.pt",
    "*.onnx",
)

# In front of the hook harness's stand-in (which logs the call and answers the ECR login):
# the tags pushed to each repository, one a line in $HARNESS/registry/<repository name>, and
# ECR's answers about them; a pull of a tag never pushed fails.
REGISTRY_STAND_IN = r"""#!/usr/bin/env bash
set -u
name="$(basename "$0")"
"$HARNESS/hook-bin/$name" "$@" || exit
repo="" tag=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --repository-name) repo="${args[i + 1]}" ;;
    imageTag=*) tag="${args[i]#imageTag=}" ;;
  esac
done
case "$name $*" in
  "aws ecr describe-images"*)
    tags="$HARNESS/registry/$repo"
    if [[ -n $tag ]]; then
      if grep -qxF -- "$tag" "$tags" 2>/dev/null; then
        printf '{"imageDetails": [{"repositoryName": "%s", "imageTags": ["%s"]}]}\n' "$repo" "$tag"
        exit 0
      fi
      id="{imageDigest:'null', imageTag:'$tag'}"
      echo >&2
      echo "An error occurred (ImageNotFoundException) when calling the DescribeImages" \
        "operation: The image with imageId $id does not exist within the repository with" \
        "name '$repo' in the registry with id '123456789012'" >&2
      exit 254
    fi
    # --query 'sort_by(imageDetails,&imagePushedAt)[-1].imageTags[0]' --output text
    if [[ -s $tags ]]; then tail -n 1 "$tags"; else echo None; fi ;;
  "docker push "* | "docker pull "*)
    ref="${!#}" && path="${ref#*/}"
    tags="$HARNESS/registry/${path%:*}"
    if [[ $1 == push ]]; then
      mkdir -p "$(dirname "$tags")" && echo "${path##*:}" >>"$tags"
    else
      grep -qxF -- "${path##*:}" "$tags" 2>/dev/null ||
        { echo "manifest unknown: $ref" >&2; exit 1; }
    fi ;;
esac
exit 0
"""


@dataclass
class Build:
    """One run of build.yml: its exit status, output, the calls made and the artifacts."""

    returncode: int
    output: str
    calls: list[str]
    artifacts: Path
    src: Path

    def builds(self) -> dict[str, list[str]]:
        """Each `docker build`'s argv (after `docker build`), by the repository of its -t."""
        found = {}
        for call in self.calls:
            if call.startswith("docker build "):
                argv = call.split()[2:]
                repo = options(argv, "-t")[0].rsplit(":", 1)[0]
                assert repo not in found, f"{repo} built twice"
                found[repo] = argv
        return found

    def pushes(self) -> list[str]:
        return [c.split()[2] for c in self.calls if c.startswith("docker push ")]


def options(argv: list[str], flag: str) -> list[str]:
    """The value after each occurrence of flag."""
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == flag]


class Rig:
    """Stand-ins on PATH, a registry that outlives runs, a fresh source copy for each run."""

    def __init__(self, root: Path, source: Path):
        self.root = root
        self.source = source
        self.runs = 0
        for kind, text in (("hook-bin", STAND_IN), ("bin", REGISTRY_STAND_IN)):
            (root / kind).mkdir()
            for name in ("docker", "aws"):
                (root / kind / name).write_text(text)
                (root / kind / name).chmod(0o755)

    def push(self, service: str, tag: str) -> None:
        """A tag in the registry, as an earlier build left it."""
        tags = self.root / "registry" / REPOSITORIES[service].split("/", 1)[1]
        tags.parent.mkdir(parents=True, exist_ok=True)
        with tags.open("a") as f:
            f.write(f"{tag}\n")

    def run(self, sha: str | None = SHA, **env: str) -> Build:
        """build.yml as the Build project runs it; env: the project's extra variables."""
        self.runs += 1
        src = self.root / f"src-{self.runs}"
        shutil.copytree(self.source, src, symlinks=True)
        artifacts = self.root / f"artifacts-{self.runs}"
        (self.root / "calls.log").unlink(missing_ok=True)
        # Only what the project gives the build: nothing from the developer's shell leaks in.
        base = {k: os.environ[k] for k in ("HOME", "LANG", "TMPDIR") if k in os.environ}
        full_env = {
            **base,
            "PATH": f"{self.root / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "HARNESS": str(self.root),
            "ECR_PASSWORD": PASSWORD,
            "AWS_REGION": "us-east-1",
            "POLYBOT_REPOSITORY_URI": REPOSITORIES["polybot"],
            "YOLO5_REPOSITORY_URI": REPOSITORIES["yolo5"],
            **({} if sha is None else {"CODEBUILD_RESOLVED_SOURCE_VERSION": sha}),
            **env,
        }
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.buildspec",
                "--artifacts",
                str(artifacts),
                "buildspecs/build.yml",
            ],
            cwd=src,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        log = self.root / "calls.log"
        calls = log.read_text().splitlines() if log.exists() else []
        output = result.stdout + result.stderr
        return Build(result.returncode, output, calls, artifacts, src)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The source tree as CodeBuild checks it out (copied once; each run copies this)."""
    source = tmp_path_factory.mktemp("source") / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    for generated in ("artifacts", "bundles"):
        shutil.rmtree(source / generated, ignore_errors=True)
    return source


@pytest.fixture
def rig(tmp_path, source) -> Rig:
    return Rig(tmp_path, source)


def bundle_files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_both_images_are_built_tagged_labelled_pushed_and_bundled(rig, tmp_path):
    build = rig.run()

    assert build.returncode == 0, build.output
    login = f"docker login --username AWS --password-stdin {REGISTRY}"
    assert "aws ecr get-login-password --region us-east-1" in build.calls
    assert login in build.calls
    assert (tmp_path / "login.stdin").read_text() == PASSWORD
    assert PASSWORD not in "\n".join(build.calls) + build.output
    builds = build.builds()
    assert list(builds) == [REPOSITORIES["polybot"], REPOSITORIES["yolo5"]]
    assert build.pushes() == [f"{REPOSITORIES[s]}:{SHA}" for s in ("polybot", "yolo5")]
    for service, repo in REPOSITORIES.items():
        argv = builds[repo]
        assert options(argv, "-f") == [f"{service}/Dockerfile"]
        assert (build.src / service / "Dockerfile").is_file()
        assert options(argv, "-t") == [f"{repo}:{SHA}"]
        assert f"org.opencontainers.image.revision={SHA}" in options(argv, "--label")
        # The image's ENV APP_VERSION (tests/polybot/test_dockerfile.py): /healthz reports it.
        assert f"APP_VERSION={SHA}" in options(argv, "--build-arg")
        assert argv[-1] == ".", "the build context is the source root (the images need common/)"
        built = build.calls.index(f"docker build {' '.join(argv)}")
        assert build.calls.index(login) < built < build.calls.index(f"docker push {repo}:{SHA}")

        bundle = build.artifacts / BUNDLES[service]
        assert (bundle / "image.env").read_text() == f"IMAGE_URI={repo}:{SHA}\n"
        # Exactly what appspecs/bundle.sh assembles (what the hook tests run), plus image.env.
        expected = tmp_path / "expected" / service
        assemble_bundle(service, expected)
        files = bundle_files(bundle)
        assert files.pop("image.env")
        assert files == bundle_files(expected)
        hooks = yaml.safe_load((bundle / "appspec.yml").read_text())["hooks"]
        locations = {script["location"] for scripts in hooks.values() for script in scripts}
        assert locations
        for location in locations:
            assert os.access(bundle / location, os.X_OK), f"{service}: {location}"


@pytest.mark.parametrize("given", ["set", "unset", "empty"])
def test_mirrors_reach_docker_build_only_when_the_project_sets_them(rig, given):
    env = {"set": MIRRORS, "unset": {}, "empty": dict.fromkeys(MIRRORS, "")}[given]

    build = rig.run(**env)

    assert build.returncode == 0, build.output
    builds = build.builds()
    assert len(builds) == 2
    passed = {repo: options(argv, "--build-arg") for repo, argv in builds.items()}
    if given == "set":
        dockerfile = (ROOT / "yolo5" / "Dockerfile").read_text()
        for name, value in MIRRORS.items():
            assert f"ARG {name}=" in dockerfile, f"yolo5/Dockerfile no longer reads {name}"
            assert f"{name}={value}" in passed[REPOSITORIES["yolo5"]]
    else:  # the Dockerfiles' own defaults apply
        for repo, args in passed.items():
            assert not [a for a in args if a.split("=")[0] in MIRRORS], (repo, args)


@pytest.mark.parametrize(
    "sha",
    [None, "", "main", SHA[:7], SHA[:-1], SHA + "0", "g" + SHA[1:], f"{SHA} --push"],
    ids=["unset", "empty", "branch", "short", "39", "41", "not-hex", "extra-word"],
)
def test_a_source_version_that_is_not_a_commit_sha_fails_before_any_build(rig, sha):
    build = rig.run(sha=sha)

    assert build.returncode != 0
    assert "not a commit SHA" in build.output
    assert not build.builds()
    assert not build.pushes()
    assert not build.artifacts.exists() or not any(build.artifacts.iterdir())


def test_a_rerun_of_the_same_commit_builds_and_pushes_nothing(rig):
    first = rig.run()
    assert first.returncode == 0, first.output
    assert len(first.builds()) == 2

    rerun = rig.run()

    assert rerun.returncode == 0, rerun.output
    for service, repo in REPOSITORIES.items():
        lookup = (
            f"aws ecr describe-images --repository-name {repo.split('/', 1)[1]} "
            f"--image-ids imageTag={SHA}"
        )
        assert lookup in rerun.calls
        assert f"{repo}:{SHA} already pushed" in rerun.output
        # The bundles still pin the image (the same one).
        image_env = (rerun.artifacts / BUNDLES[service] / "image.env").read_text()
        assert image_env == f"IMAGE_URI={repo}:{SHA}\n"
    assert not rerun.builds()
    assert not rerun.pushes()


@pytest.mark.parametrize("pushed", ["polybot", "yolo5"])
def test_only_the_image_not_yet_pushed_is_built(rig, pushed):
    """A rerun after a build that pushed one image and then failed."""
    rig.push(pushed, SHA)

    build = rig.run()

    assert build.returncode == 0, build.output
    (missing,) = set(REPOSITORIES) - {pushed}
    assert list(build.builds()) == [REPOSITORIES[missing]]
    assert build.pushes() == [f"{REPOSITORIES[missing]}:{SHA}"]


def test_the_newest_pushed_image_is_the_layer_cache(rig):
    first = rig.run()
    assert first.returncode == 0, first.output
    assert not [c for c in first.calls if c.startswith("docker pull ")]  # empty: "None"
    assert not [a for a in first.builds().values() if "--cache-from" in a]

    second = rig.run(sha=NEXT_SHA)

    assert second.returncode == 0, second.output
    for repo, argv in second.builds().items():
        assert f"docker pull --quiet {repo}:{SHA}" in second.calls
        assert f"APP_VERSION={NEXT_SHA}" in options(argv, "--build-arg")
        assert options(argv, "--cache-from") == [f"{repo}:{SHA}"]
        assert options(argv, "-t") == [f"{repo}:{NEXT_SHA}"]
