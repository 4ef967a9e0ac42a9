import pytest

from common.env import SettingsError
from local.config import LocalConfig


def test_the_jobs_visibility_timeout_is_read_as_a_number_or_left_to_the_template():
    assert LocalConfig.from_env({}).job_visibility_timeout is None
    given = LocalConfig.from_env({"LOCAL_JOB_VISIBILITY_TIMEOUT": "30"})
    assert given.job_visibility_timeout == 30
    with pytest.raises(SettingsError, match="LOCAL_JOB_VISIBILITY_TIMEOUT"):
        LocalConfig.from_env({"LOCAL_JOB_VISIBILITY_TIMEOUT": "half a minute"})
