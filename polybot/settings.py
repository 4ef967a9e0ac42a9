"""polybot's settings: read once from the environment into one frozen, typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from common.env import UNKNOWN_VERSION, SettingsError, env_int, env_opt, env_str, env_version

WEBHOOK_PATH = "/telegram/webhook"
# Telegram's own limit for getFile downloads; a bigger photo cannot be fetched at all.
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    images_bucket: str
    jobs_queue_url: str
    predictions_table: str
    telegram_token_secret_id: str
    aws_region: str = "us-east-1"
    log_level: str = "INFO"
    log_group: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    public_url: str | None = None
    webhook_cert_path: str | None = None
    webhook_max_connections: int = 40
    max_photo_bytes: int = TELEGRAM_DOWNLOAD_LIMIT
    # Updates are small JSON documents; anything bigger is refused before it is parsed.
    max_update_bytes: int = 1024 * 1024
    version: str = UNKNOWN_VERSION  # the commit this code was built from

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        api_url = env_str("TELEGRAM_API_URL", cls.telegram_api_url, env).rstrip("/")
        if not api_url.startswith(("https://", "http://")):
            raise SettingsError("TELEGRAM_API_URL must be an http(s) URL")
        public_url = env_opt("PUBLIC_URL", env)
        return cls(
            images_bucket=env_str("IMAGES_BUCKET", env=env),
            jobs_queue_url=env_str("JOBS_QUEUE_URL", env=env),
            predictions_table=env_str("PREDICTIONS_TABLE", env=env),
            telegram_token_secret_id=env_str("TELEGRAM_TOKEN_SECRET_ID", env=env),
            aws_region=env_str("AWS_REGION", cls.aws_region, env),
            log_level=env_str("LOG_LEVEL", cls.log_level, env).upper(),
            log_group=env_opt("LOG_GROUP", env),
            telegram_api_url=api_url,
            public_url=public_url.rstrip("/") if public_url else None,
            webhook_cert_path=env_opt("WEBHOOK_CERT_PATH", env),
            webhook_max_connections=env_int(
                "WEBHOOK_MAX_CONNECTIONS", cls.webhook_max_connections, env, lo=1, hi=100
            ),
            max_photo_bytes=env_int(
                "MAX_PHOTO_BYTES", cls.max_photo_bytes, env, lo=1, hi=TELEGRAM_DOWNLOAD_LIMIT
            ),
            version=env_version(env),
        )
