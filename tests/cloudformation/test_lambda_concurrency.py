"""No Lambda function reserves concurrency: a reservation fails the stack on low-quota accounts.

Lambda guide, "Configuring reserved concurrency": an account can reserve only its unreserved
concurrency minus 100, and new accounts often have 10 or 50 in total. checkov's
reserved-concurrency check (CKV_AWS_115) is therefore skipped, with a written reason.
"""

from __future__ import annotations

import pytest

from tests.cloudformation.templates import all_templates, load, resources_of_type

LAMBDA = "AWS::Lambda::Function"
FUNCTIONS = [
    (path, key, resource)
    for path in all_templates()
    for key, resource in resources_of_type(load(path), LAMBDA).items()
]


def test_there_are_functions_to_check():
    assert any(key == "DeploymentGroupFunction" for _, key, _ in FUNCTIONS)


@pytest.mark.parametrize(
    ("path", "key", "function"), FUNCTIONS, ids=[f"{p.name}:{k}" for p, k, _ in FUNCTIONS]
)
def test_function_reserves_no_concurrency(path, key, function):
    assert "ReservedConcurrentExecutions" not in function.get("Properties", {}), (
        f"{path.name}: {key} reserves concurrency"
    )


@pytest.mark.parametrize(
    ("path", "key", "function"), FUNCTIONS, ids=[f"{p.name}:{k}" for p, k, _ in FUNCTIONS]
)
def test_checkov_reserved_concurrency_skip_gives_a_reason(path, key, function):
    skips = function.get("Metadata", {}).get("checkov", {}).get("skip", [])
    [skip] = [s for s in skips if s.get("id") == "CKV_AWS_115"] or [None]
    assert skip is not None, f"{path.name}: {key} does not skip CKV_AWS_115"
    assert str(skip.get("comment", "")).strip(), f"{path.name}: {key} skips CKV_AWS_115 silently"
