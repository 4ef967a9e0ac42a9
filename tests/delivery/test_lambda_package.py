"""The custom resource's Lambda package is delivery/ as it is (pipeline.yaml: `Code: ../delivery`,
`Handler: deployment_group.handler`), so deployment_group.py may import only what the Lambda
Python runtime has: the standard library and boto3 (with its dependencies). Anything from the
rest of the repository (common/, the delivery package itself) would fail on the first create.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.cloudformation.templates import ROOT, load

MODULE = ROOT / "delivery" / "deployment_group.py"
# boto3 and what it imports, as the Lambda Python runtime ships them (botocore also loads
# certifi when it is installed, and falls back to its own CA bundle when it is not).
RUNTIME_PACKAGES = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six",
    "certifi",
}

# Runs in a fresh interpreter with -I -S: no PYTHONPATH, no current directory, no user or site
# .pth files. sys.path is the standard library, the directory holding the one copied file, and
# the venv's site-packages (for boto3). Prints the third-party top-level packages it loaded.
PROBE = """
import json, sys
package, site_packages = sys.argv[1], sys.argv[2]
sys.path.insert(0, package)
sys.path.append(site_packages)
import deployment_group
assert callable(deployment_group.handler), "no handler"
loaded = set()
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None) or ""
    if path.startswith(site_packages):
        loaded.add(name.split(".")[0])
print(json.dumps(sorted(loaded)))
"""


def import_alone(module: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Import `module` as the Lambda runtime would, with nothing of the repository beside it."""
    package = tmp_path / "package"
    package.mkdir()
    shutil.copy(module, package / "deployment_group.py")
    site_packages = sysconfig.get_paths()["purelib"]
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(package), site_packages],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_the_handler_is_the_module_the_test_imports():
    function = load("pipeline.yaml")["Resources"]["DeploymentGroupFunction"]["Properties"]
    assert function["Code"] == "../delivery"
    assert function["Handler"] == f"{MODULE.stem}.handler"


def test_deployment_group_imports_only_the_standard_library_and_boto3(tmp_path):
    result = import_alone(MODULE, tmp_path)

    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert loaded <= RUNTIME_PACKAGES, sorted(loaded - RUNTIME_PACKAGES)
    assert "boto3" in loaded  # the probe did see site-packages
