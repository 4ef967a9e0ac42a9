"""The load test's stack facts are the templates' and deploy.sh's, not copies that can drift."""

from __future__ import annotations

import re

import yaml

from bench import loadtest, stacks
from local import bootstrap
from local.config import ROOT

TEMPLATES = ROOT / "cloudformation"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template(name: str) -> dict:
    return yaml.load((TEMPLATES / name).read_text(), Loader=_CfnLoader)  # noqa: S506


def test_the_data_outputs_it_reads_are_the_data_templates():
    outputs = template("data.yaml")["Outputs"]
    assert set(stacks.DATA_OUTPUTS.values()) <= set(outputs)


def test_the_worker_group_output_is_the_app_templates():
    assert stacks.GROUP_OUTPUT in template("app.yaml")["Outputs"]


def test_the_stack_names_are_deploy_shs_and_local_modes():
    script = (TEMPLATES / "deploy.sh").read_text()
    data = re.search(r'^data_stack="\$prefix(-\w+)"$', script, re.M)
    app = re.search(r'^app_stack="\$prefix(-\w+)"$', script, re.M)
    assert data and app, "deploy.sh names its stacks differently now"
    assert stacks.data_stack("p") == "p" + data.group(1) == bootstrap.stack_name("p")
    assert stacks.app_stack("p") == "p" + app.group(1)


def test_the_samples_live_where_a_lifecycle_rule_expires_them():
    bucket = template("data.yaml")["Resources"]["ImagesBucket"]["Properties"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    expiring = [r["Prefix"] for r in rules if r.get("Prefix") and "ExpirationInDays" in r]
    assert any(loadtest.SAMPLES_PREFIX.startswith(prefix) for prefix in expiring), expiring
