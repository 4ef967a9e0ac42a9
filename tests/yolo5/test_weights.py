"""Checkpoints are sha256-verified before anything unpickles them."""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.images import real_weights
from yolo5 import weights
from yolo5.weights import WeightsError, allow_list, resolve, verify

# yolov5n.pt's sha256 as the ultralytics v7.0 release publishes it.
YOLOV5N_SHA256 = "4f180cf23ba0717ada0badd6c685026d73d48f184d00fc159c2641284b2ac0a3"
DOCKERFILE = Path(weights.__file__).with_name("Dockerfile")


class _Marker:
    """Unpickling this creates a file: proof that a checkpoint was (wrongly) loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.fixture
def malicious_checkpoint(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "yolov5n.pt"
    checkpoint.write_bytes(pickle.dumps({"model": _Marker(str(marker))}))
    return checkpoint, marker


@pytest.fixture
def trusted(tmp_path, monkeypatch) -> Path:
    """A stand-in checkpoint pinned in a stand-in allow-list, so these tests need no real
    weights (CodePipeline's Test stage has none)."""
    checkpoint = tmp_path / "trusted" / "yolov5n.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"a checkpoint we pinned")
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    pinned = tmp_path / "weights.sha256"
    pinned.write_text(f"{digest}  yolov5n.pt\n")
    monkeypatch.setattr(weights, "ALLOW_LIST_FILE", pinned)
    return checkpoint


def test_yolov5n_is_pinned_to_the_release_hash():
    assert allow_list()["yolov5n.pt"] == YOLOV5N_SHA256


@pytest.mark.slow
def test_the_real_checkpoint_verifies():
    assert verify(real_weights()) == YOLOV5N_SHA256


def test_unknown_checkpoint_is_refused_before_unpickling(malicious_checkpoint):
    from yolo5.torch_detector import Detector

    checkpoint, marker = malicious_checkpoint
    with pytest.raises(WeightsError, match="not on the pinned allow-list"):
        Detector(checkpoint, "yolov5n")
    assert not marker.exists()
    # The fixture really is dangerous: unpickling it does create the marker.
    pickle.loads(checkpoint.read_bytes())  # noqa: S301 - demonstrating the threat in a test
    assert marker.exists()


def test_explicit_path_wins_over_the_cache(tmp_path, trusted):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "yolov5n.pt").write_bytes(b"not the real thing")
    assert resolve(trusted, "yolov5n", cache, allow_download=False) == trusted


def test_explicit_path_is_verified_too(malicious_checkpoint, tmp_path):
    with pytest.raises(WeightsError):
        resolve(malicious_checkpoint[0], "yolov5n", tmp_path, allow_download=False)


def test_cached_file_is_used_and_verified(tmp_path, trusted):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(trusted, cache / "yolov5n.pt")
    assert resolve(None, "yolov5n", cache, allow_download=False) == cache / "yolov5n.pt"
    (cache / "yolov5n.pt").write_bytes(b"tampered")
    with pytest.raises(WeightsError, match="allow-list"):
        resolve(None, "yolov5n", cache, allow_download=False)


def test_the_environment_names_the_same_source_as_the_worker(tmp_path, trusted):
    """YOLO_WEIGHTS wins; without it the cache under YOLO_CACHE_DIR is used."""
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(trusted, cache / "yolov5n.pt")
    env = {"YOLO_CACHE_DIR": str(cache), "YOLO_ALLOW_DOWNLOAD": "false"}
    assert weights.Source.from_env(env).resolve() == cache / "yolov5n.pt"
    assert weights.Source.from_env({**env, "YOLO_WEIGHTS": str(trusted)}).resolve() == trusted


def test_missing_without_download_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="YOLO_ALLOW_DOWNLOAD"):
        resolve(None, "yolov5n", tmp_path, allow_download=False)


def test_model_without_a_pinned_hash_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="no pinned sha256"):
        resolve(None, "yolov5x", tmp_path, allow_download=True)


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_checks_the_hash_then_renames(tmp_path, monkeypatch, trusted):
    good = trusted.read_bytes()
    urls = []

    def urlopen(url, timeout):
        urls.append(url)
        return _Response(good)

    monkeypatch.setattr(weights.urllib.request, "urlopen", urlopen)
    path = resolve(None, "yolov5n", tmp_path / "cache", allow_download=True)
    assert path == tmp_path / "cache" / "yolov5n.pt"
    assert path.read_bytes() == good
    assert urls == ["https://github.com/ultralytics/yolov5/releases/download/v7.0/yolov5n.pt"]
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_download_with_a_wrong_hash_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(weights.urllib.request, "urlopen", lambda url, timeout: _Response(b"evil"))
    with pytest.raises(WeightsError, match="expected"):
        resolve(None, "yolov5n", tmp_path, allow_download=True)
    assert list(tmp_path.iterdir()) == []


def test_dockerfile_verifies_against_the_same_allow_list(tmp_path, trusted):
    """Run the Dockerfile's own check command on the shared checkpoint and on a bad file."""
    text = DOCKERFILE.read_text()
    assert re.search(r"ARG YOLO_MODEL=yolov5n\b", text)
    source = re.search(r"^ARG WEIGHTS_URL=(\S+)$", text, re.M)
    assert source, "the Dockerfile must name the checkpoint's source as a build argument"
    assert f"{source.group(1)}/{{name}}.pt" == weights.RELEASE_URL  # the worker's own source
    assert '"${WEIGHTS_URL}/${YOLO_MODEL}.pt"' in text
    check = re.search(r"(grep .*sha256sum[^\n]*-c -)", text)
    assert check, "the Dockerfile must verify the download with sha256sum -c"
    assert "/app/yolo5/weights.sha256" in check.group(1)
    command = check.group(1).replace("/app/yolo5/weights.sha256", str(weights.ALLOW_LIST_FILE))
    env = {"YOLO_MODEL": "yolov5n", "PATH": "/usr/bin:/bin"}

    def run() -> int:
        return subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            check=False,
        ).returncode

    (tmp_path / "yolov5n.pt").symlink_to(trusted)
    assert run() == 0
    (tmp_path / "yolov5n.pt").unlink()
    (tmp_path / "yolov5n.pt").write_bytes(b"tampered")
    assert run() != 0
