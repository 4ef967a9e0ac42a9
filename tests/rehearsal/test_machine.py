"""The rehearsal's machine: the IMDSv2 stand-in, the base images from the Dockerfiles' FROM, and
the podman settings and hosts line it adds and takes away again."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rehearsal import machine


def call(url: str, method: str = "GET", headers=None) -> str:
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.read().decode()


def test_the_region_is_given_only_with_a_session_token():
    with machine.imds("eu-central-1") as url:
        token = call(
            f"{url}/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "300"}
        )
        region = call(
            f"{url}/latest/meta-data/placement/region",
            headers={"X-aws-ec2-metadata-token": token},
        )
        assert region == "eu-central-1"
        with pytest.raises(urllib.error.HTTPError) as refused:
            call(f"{url}/latest/meta-data/placement/region")
        assert refused.value.code == 401


def test_a_token_request_without_a_ttl_is_refused():
    with machine.imds("us-east-1") as url, pytest.raises(urllib.error.HTTPError) as refused:
        call(f"{url}/latest/api/token", "PUT")
    assert refused.value.code == 400


ROOT = Path(__file__).resolve().parents[2]


def test_the_base_images_are_the_dockerfiles_from_lines():
    dockerfiles = [ROOT / "polybot" / "Dockerfile", ROOT / "yolo5" / "Dockerfile"]
    froms = {
        line.split()[1]
        for path in dockerfiles
        for line in path.read_text().splitlines()
        if line.startswith("FROM ")
    }
    assert machine.base_images(dockerfiles) == sorted(froms)


def test_a_from_naming_an_earlier_stage_is_not_an_image(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM --platform=linux/amd64 python:3.11 AS export\nRUN x\n"
        "FROM export AS again\nFROM debian:bookworm\nFROM python:3.11\n"
    )
    assert machine.base_images([dockerfile]) == ["python:3.11", "debian:bookworm"]


@pytest.fixture
def etc(tmp_path, monkeypatch):
    """The machine's files, in a directory of the test's own."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    containers = tmp_path / "containers"
    (containers / "registries.conf.d").mkdir(parents=True)
    monkeypatch.setattr(machine, "HOSTS", hosts)
    monkeypatch.setattr(machine, "NODOCKER", containers / "nodocker")
    monkeypatch.setattr(
        machine, "CONTAINERS_DROP_IN", containers / "containers.conf.d" / "90-rehearsal.conf"
    )
    monkeypatch.setattr(
        machine, "REGISTRIES_DROP_IN", containers / "registries.conf.d" / "50-rehearsal.conf"
    )
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text() if p.is_file() else "<dir>"
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("fails", [False, True], ids=["passes", "fails"])
def test_podman_settings_and_the_hosts_line_are_removed_when_the_run_ends(etc, fails):
    before = snapshot(etc)
    expected = pytest.raises(RuntimeError) if fails else contextlib.nullcontext()
    with expected, machine.podman_configured("1.dkr.ecr.us-east-1.amazonaws.com", 80):
        conf = machine.CONTAINERS_DROP_IN.read_text()
        assert 'runtime = "runc"' in conf and "nofile=20000:20000" in conf
        assert 'location = "1.dkr.ecr.us-east-1.amazonaws.com"' in (
            machine.REGISTRIES_DROP_IN.read_text()
        )
        assert "127.0.0.1 1.dkr.ecr.us-east-1.amazonaws.com" in machine.HOSTS.read_text()
        assert machine.NODOCKER.exists()
        if fails:
            raise RuntimeError("a stage failed")
    assert snapshot(etc) == before


def test_a_hosts_line_a_killed_run_left_is_removed_too(etc):
    machine.map_host("old.example", "127.0.0.1")
    with machine.podman_configured("new.example", 5000):
        pass
    assert machine.HOSTS.read_text() == "127.0.0.1 localhost\n"
