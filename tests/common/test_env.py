import pytest

from common.env import (
    SettingsError,
    env_bool,
    env_float,
    env_int,
    env_opt,
    env_opt_int,
    env_str,
    env_version,
)


def test_required_string_fails_fast_with_its_name():
    with pytest.raises(SettingsError, match="IMAGES_BUCKET"):
        env_str("IMAGES_BUCKET", env={})


def test_blank_counts_as_missing():
    assert env_str("X", "dflt", env={"X": "  "}) == "dflt"
    assert env_opt("X", env={"X": ""}) is None


def test_int_bounds_and_garbage():
    assert env_int("N", 3, env={"N": "7"}, lo=1, hi=10) == 7
    with pytest.raises(SettingsError, match="between 1 and 10"):
        env_int("N", 3, env={"N": "11"}, lo=1, hi=10)
    with pytest.raises(SettingsError, match="integer"):
        env_int("N", 3, env={"N": "seven"})


def test_optional_int_is_none_when_unset_and_an_int_when_set():
    assert env_opt_int("N", env={"N": " "}) is None
    assert env_opt_int("N", env={"N": "30"}) == 30
    with pytest.raises(SettingsError, match="N must be an integer"):
        env_opt_int("N", env={"N": "30s"})


def test_float_and_bool():
    assert env_float("F", 0.25, env={}) == 0.25
    assert env_float("F", 0.25, env={"F": "0.5"}) == 0.5
    assert env_bool("B", False, env={"B": "yes"}) is True
    assert env_bool("B", True, env={"B": "off"}) is False
    with pytest.raises(SettingsError):
        env_bool("B", True, env={"B": "maybe"})


def test_the_version_is_app_version_or_unknown():
    assert env_version({"APP_VERSION": " 1a2b3c4d "}) == "1a2b3c4d"
    assert env_version({"APP_VERSION": ""}) == "unknown"
    assert env_version({}) == "unknown"
