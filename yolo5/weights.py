"""Find the YOLOv5 checkpoint and prove it is one we trust before anything unpickles it.

A .pt checkpoint is a pickle: loading it runs arbitrary code. torch >= 2.6 refuses YOLOv5's
checkpoints under weights_only=True, so the only safe way to load them is to check the file's
sha256 against a pinned allow-list first. The allow-list lives in weights.sha256 (sha256sum
format), which the Dockerfile also uses to verify the build-time download.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.env import env_bool, env_opt, env_str
from common.jsonlog import event

logger = logging.getLogger(__name__)

ALLOW_LIST_FILE = Path(__file__).with_name("weights.sha256")
DEFAULT_CACHE_DIR = "~/.cache/polybot"  # YOLO_CACHE_DIR's default, as the user writes it
_DEFAULT_CACHE = Path(DEFAULT_CACHE_DIR).expanduser()
RELEASE_URL = "https://github.com/ultralytics/yolov5/releases/download/v7.0/{name}.pt"
DOWNLOAD_TIMEOUT_SECONDS = 60


class WeightsError(RuntimeError):
    """No trusted checkpoint could be found: the worker refuses to start."""


def allow_list(path: Path | None = None) -> dict[str, str]:
    """File name -> pinned sha256, from the sha256sum-format allow-list."""
    pinned: dict[str, str] = {}
    for line in (path or ALLOW_LIST_FILE).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            pinned[name.lstrip("*")] = digest.lower()
    return pinned


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path) -> str:
    """Return the checkpoint's sha256 if it is on the allow-list, else raise WeightsError."""
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} does not exist")
    digest = sha256_of(path)
    if digest not in allow_list().values():
        raise WeightsError(
            f"checkpoint {path} has sha256 {digest}, which is not on the pinned allow-list "
            f"({ALLOW_LIST_FILE.name}); refusing to unpickle it"
        )
    return digest


@dataclass(frozen=True)
class Source:
    """Where the checkpoint comes from: the four settings `resolve` takes, read once."""

    explicit: Path | None = None
    model_name: str = "yolov5n"
    cache_dir: Path = _DEFAULT_CACHE
    allow_download: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Source:
        explicit = env_opt("YOLO_WEIGHTS", env)
        return cls(
            explicit=Path(explicit).expanduser() if explicit else None,
            model_name=env_str("YOLO_MODEL", cls.model_name, env),
            cache_dir=Path(env_str("YOLO_CACHE_DIR", DEFAULT_CACHE_DIR, env)).expanduser(),
            allow_download=env_bool("YOLO_ALLOW_DOWNLOAD", cls.allow_download, env),
        )

    def resolve(self) -> Path:
        return resolve(self.explicit, self.model_name, self.cache_dir, self.allow_download)


def resolve(explicit: Path | None, model_name: str, cache_dir: Path, allow_download: bool) -> Path:
    """YOLO_WEIGHTS wins; else the cached file; else download it. Always verified."""
    if explicit is not None:
        verify(explicit)
        return explicit
    file_name = f"{model_name}.pt"
    pinned = allow_list()
    if file_name not in pinned:
        # Only checkpoints whose hash we could pin are allowed; anything else would have to be
        # trusted blindly on first download.
        raise WeightsError(
            f"model {model_name!r} has no pinned sha256 (known: {', '.join(sorted(pinned))}); "
            "set YOLO_WEIGHTS to a verified file or pick a pinned model"
        )
    cached = cache_dir / file_name
    if cached.is_file():
        verify(cached)
        return cached
    if not allow_download:
        raise WeightsError(f"{cached} is missing and YOLO_ALLOW_DOWNLOAD is false")
    return _download(RELEASE_URL.format(name=model_name), cached, pinned[file_name])


def _download(url: str, target: Path, expected: str) -> Path:
    """Download to a temp file next to the target, check the hash, then rename atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading checkpoint %s", url, extra=event("weights.downloading"))
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(  # noqa: S310 - fixed https URL  # nosec B310
                url, timeout=DOWNLOAD_TIMEOUT_SECONDS
            ) as response,
        ):
            for chunk in iter(lambda: response.read(1024 * 1024), b""):
                out.write(chunk)
        digest = sha256_of(tmp)
        if digest != expected:
            raise WeightsError(f"download of {url} has sha256 {digest}, expected {expected}")
        os.replace(tmp, target)
    except OSError as exc:
        raise WeightsError(f"could not download {url}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target
