"""Running cloudformation/*.sh as an operator does: bash, and the `aws` first on PATH.

`use_real_aws_cli` makes that the real AWS CLI, installed in this venv from PyPI (awscli in
requirements-dev.txt: v1, the only one on PyPI), talking over HTTP to a moto server through
AWS_ENDPOINT_URL, which the CLI applies to every service.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from tests.cloudformation.templates import TEMPLATE_DIR

AWS_CLI = Path(sysconfig.get_path("scripts")) / "aws"


def run_script(
    name: str, *args: str, unset: set[str], stdin: str = "", interpreter: str = "bash"
) -> subprocess.CompletedProcess[str]:
    """cloudformation/<name> with `args` and `stdin` (not a terminal), run by `interpreter`,
    without the variables in `unset` (its defaults)."""
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [interpreter, str(TEMPLATE_DIR / name), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def use_real_aws_cli(monkeypatch, endpoint: str, home: Path) -> None:
    """Point the scripts' `aws` at the real CLI and the CLI at `endpoint` (a moto server)."""
    assert AWS_CLI.is_file(), f"{AWS_CLI} missing: pip install -r requirements-dev.txt"
    path = f"{AWS_CLI.parent}{os.pathsep}{os.environ['PATH']}"
    monkeypatch.setenv("PATH", path)
    assert shutil.which("aws", path=path) == str(AWS_CLI)
    # "localhost", not 127.0.0.1: `cloudformation deploy --s3-bucket` hands CloudFormation a
    # TemplateURL made of the endpoint, and moto 5.2.5 reads the bucket from such a URL's path
    # only when it says localhost (else from the host name's first label, here "127").
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.replace("127.0.0.1", "localhost"))
    # Nothing from the developer's ~/.aws (profiles, endpoints, a pager) reaches the CLI.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
