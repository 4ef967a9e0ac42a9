"""Every image builds on a pinned base from Amazon ECR Public, not from Docker Hub.

CodeBuild pulls base images anonymously, and Docker Hub rate-limits anonymous pulls. Docker's
official images are mirrored under public.ecr.aws/docker/library/ (ECR Public user guide,
"Pulling an image from the Amazon ECR Public Gallery").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(p for p in ROOT.glob("*/Dockerfile") if p.is_file())
REGISTRY = "public.ecr.aws/docker/library/"
# A tag that starts with a version number (3.11.14-slim-bookworm), or a digest.
PINNED = re.compile(r"^[^:@]+(:\d+(\.\d+)+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


def base_images(dockerfile: Path) -> list[str]:
    """The image each FROM line names (stage names and --platform flags left out)."""
    images, stages = [], set()
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        words = [w for w in words[1:] if not w.startswith("--")]
        if words[0].lower() not in stages:  # FROM <earlier stage> pulls nothing
            images.append(words[0])
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())
    return images


def is_pinned(image: str) -> bool:
    match = PINNED.match(image)
    return bool(match and (match.group(1) or match.group(3)))


def test_there_are_dockerfiles_to_check():
    assert {p.parent.name for p in DOCKERFILES} >= {"polybot", "yolo5"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_images_come_pinned_from_ecr_public(dockerfile):
    images = base_images(dockerfile)
    assert images, f"{dockerfile}: no FROM line"
    for image in images:
        assert image.startswith(REGISTRY), f"{dockerfile}: {image} is not from {REGISTRY}"
        assert is_pinned(image), f"{dockerfile}: {image} has no version-numbered tag"


def test_the_checks_catch_what_they_should(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM --platform=linux/amd64 public.ecr.aws/docker/library/python:3.11.14-slim AS build\n"
        "FROM build\n"
    )
    assert base_images(dockerfile) == ["public.ecr.aws/docker/library/python:3.11.14-slim"]
    assert is_pinned("public.ecr.aws/docker/library/python:3.11.14-slim-bookworm")
    assert not is_pinned("public.ecr.aws/docker/library/python:latest")
    assert not is_pinned("public.ecr.aws/docker/library/python:slim")
    assert not is_pinned("public.ecr.aws/docker/library/python")
    assert not "python:3.11.14-slim-bookworm".startswith(REGISTRY)


def final_stage(dockerfile: Path) -> list[str]:
    """The instructions after the last FROM (continuation lines joined)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(instructions) if line.upper().startswith("FROM "))
    return instructions[last_from + 1 :]


def carries_app_version(dockerfile: Path) -> bool:
    """The final stage declares `ARG APP_VERSION=unknown`, then `ENV APP_VERSION=${APP_VERSION}`:
    the image runs with the commit buildspecs/build.yml passes, or "unknown"."""
    stage = final_stage(dockerfile)
    arg, env = "ARG APP_VERSION=unknown", "ENV APP_VERSION=${APP_VERSION}"
    return arg in stage and env in stage and stage.index(arg) < stage.index(env)


@pytest.mark.parametrize("service", ["polybot", "yolo5"])
def test_the_image_carries_the_commit_it_was_built_from(service):
    assert carries_app_version(ROOT / service / "Dockerfile")


def test_the_version_check_wants_it_in_the_final_stage(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.11 AS build\nARG APP_VERSION=unknown\nENV APP_VERSION=${APP_VERSION}\n"
        'FROM python:3.11\nCMD ["true"]\n'
    )
    assert not carries_app_version(dockerfile)
    dockerfile.write_text("FROM python:3.11\nENV APP_VERSION=${APP_VERSION}\nARG APP_VERSION\n")
    assert not carries_app_version(dockerfile)
    dockerfile.write_text(
        "FROM python:3.11\nARG APP_VERSION=unknown\nENV APP_VERSION=${APP_VERSION}\n"
    )
    assert carries_app_version(dockerfile)
