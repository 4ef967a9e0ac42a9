"""Typed reads of environment variables, failing fast with the variable's name."""

from __future__ import annotations

import os
from collections.abc import Mapping

# What a service reports as its version when APP_VERSION is unset (a build without
# --build-arg APP_VERSION, or a source tree without .git).
UNKNOWN_VERSION = "unknown"


class SettingsError(ValueError):
    """A missing or malformed setting: the service refuses to start."""


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def env_str(name: str, default: str | None = None, env: Mapping[str, str] = os.environ) -> str:
    value = _raw(env, name)
    if value is None:
        if default is None:
            raise SettingsError(f"{name} is required")
        return default
    return value


def env_opt(name: str, env: Mapping[str, str] = os.environ) -> str | None:
    return _raw(env, name)


def env_int(
    name: str,
    default: int,
    env: Mapping[str, str] = os.environ,
    lo: int | None = None,
    hi: int | None = None,
) -> int:
    value = _raw(env, name)
    try:
        number = default if value is None else int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {number}")
    return number


def env_opt_int(name: str, env: Mapping[str, str] = os.environ) -> int | None:
    """An integer, or None when unset so that the consumer's own default applies."""
    return None if _raw(env, name) is None else env_int(name, 0, env)


def env_float(name: str, default: float, env: Mapping[str, str] = os.environ) -> float:
    value = _raw(env, name)
    try:
        return default if value is None else float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {value!r}") from None


def env_bool(name: str, default: bool, env: Mapping[str, str] = os.environ) -> bool:
    value = _raw(env, name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def env_choice(
    name: str, default: str, choices: tuple[str, ...], env: Mapping[str, str] = os.environ
) -> str:
    value = env_str(name, default, env).lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def env_version(env: Mapping[str, str] = os.environ) -> str:
    """The commit the running code was built from: APP_VERSION, which both Dockerfiles set
    from buildspecs/build.yml's --build-arg and local/up.py from `git rev-parse HEAD`."""
    return env_str("APP_VERSION", UNKNOWN_VERSION, env)
