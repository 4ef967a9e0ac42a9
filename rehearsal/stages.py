"""The pipeline's stages, run in order on this machine: Source, Test, Build, Deploy.

Each stage's commands are the product's own: `buildspecs/test.yml` and `buildspecs/build.yml`
through the buildspec runner (tools/buildspec.py), and each bundle's hooks in CodeDeploy's
lifecycle order. What the stages observe is checked here; a failed check fails its stage.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from common.contracts import WorkerBuild
from delivery.webhook import COMMAND as WEBHOOK_COMMAND
from local.config import ROOT
from local.samples import sample_image
from local.telegram_emulator.client import EmulatorClient
from polybot import replies
from rehearsal import instance, machine, stand_ins
from rehearsal.stand_ins import Aws, Emulator, wait_until

BIN = Path(__file__).resolve().parent / "bin"
CHAT_ID = 4242
VERSION_CHAT_ID = 4243  # /version's chat: its replies stay out of the photos' answers


class StageFailed(RuntimeError):
    pass


@dataclass
class Revision:
    sha: str
    zip: Path
    src: Path
    artifacts: Path = field(default=Path())

    def bundle(self, service: str) -> Path:
        # The pipeline's deploy actions take the build's secondary artifacts.
        return self.artifacts / ("PolybotBundle" if service == "polybot" else "Yolo5Bundle")


def sh(cmd: list[str], log: Path, *, cwd: Path | None = None, env=None, timeout=None) -> str:
    """Run a command with its output appended to the stage's log; fail the stage if it fails."""
    print(f"   $ {shlex.join(cmd)}", flush=True)
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        result = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        out.write(result.stdout)
    if result.returncode != 0:
        raise StageFailed(f"{' '.join(cmd[:4])} ... exited {result.returncode}")
    return result.stdout


# -- Source -----------------------------------------------------------------------------------


def extract_keeping_modes(archive: Path, dest: Path) -> None:
    """Unpack as `unzip` does: each file with the Unix mode bits the zip recorded."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)


def source(repo: Path, rev: str, work: Path, log: Path) -> Revision:
    """CODE_ZIP: `git archive` of the commit, no .git and nothing from beside the clone."""
    sha = sh(["git", "rev-parse", f"{rev}^{{commit}}"], log, cwd=repo).strip()
    archive = work / f"source-{sha[:12]}.zip"
    sh(["git", "archive", "--format=zip", "-o", str(archive), sha], log, cwd=repo)
    src = work / f"src-{sha[:12]}"
    shutil.rmtree(src, ignore_errors=True)
    extract_keeping_modes(archive, src)
    if (src / ".git").exists():
        raise StageFailed("the source zip holds .git")
    return Revision(sha, archive, src)


# -- Test -------------------------------------------------------------------------------------


def test(rev: Revision, log: Path, base_env: dict[str, str]) -> None:
    """buildspecs/test.yml in a fresh directory unpacked from the zip."""
    src = rev.src.parent / f"test-{rev.sha[:12]}"
    shutil.rmtree(src, ignore_errors=True)
    extract_keeping_modes(rev.zip, src)
    env = {k: v for k, v in base_env.items() if k != "YOLO_WEIGHTS"}
    # PyTorch's CPU index, which the buildspec adds, is out of reach here: the machine's own
    # pip indexes stand in, set as a CodeBuild project variable would be.
    indexes = " ".join(f"file://{p}" for p in machine.pip_indexes()) or "https://pypi.org/simple"
    env.update(
        PIP_EXTRA_INDEX_URL=indexes,
        CODEBUILD_SRC_DIR=str(src),
        CODEBUILD_RESOLVED_SOURCE_VERSION=rev.sha,
    )
    try:
        sh([sys.executable, "-m", "tools.buildspec", "buildspecs/test.yml"], log, cwd=src, env=env)
    finally:
        shutil.rmtree(src, ignore_errors=True)


# -- Build ------------------------------------------------------------------------------------


def build_env(aws: Aws, rev: Revision, mirror_args: dict[str, str], base_env) -> dict[str, str]:
    env = machine.environ_with_path(BIN, base_env)
    env.update(
        stand_ins.CREDENTIALS,
        REHEARSAL_AWS_ENDPOINT=aws.url,
        AWS_REGION=aws.region,
        AWS_DEFAULT_REGION=aws.region,
        POLYBOT_REPOSITORY_URI=aws.repository_uris["polybot"],
        YOLO5_REPOSITORY_URI=aws.repository_uris["yolo5"],
        CODEBUILD_SRC_DIR=str(rev.src),
        CODEBUILD_RESOLVED_SOURCE_VERSION=rev.sha,
        # podman's default image format is OCI, which drops HEALTHCHECK; Docker's keeps it.
        BUILDAH_FORMAT="docker",
        **mirror_args,
    )
    return env


def build(rev: Revision, aws: Aws, mirror_args, log: Path, base_env) -> dict[str, int]:
    """buildspecs/build.yml: images pushed to the loopback registry, bundles as artifacts."""
    rev.artifacts = rev.src.parent / f"artifacts-{rev.sha[:12]}"
    shutil.rmtree(rev.artifacts, ignore_errors=True)
    sh(
        [
            sys.executable,
            "-m",
            "tools.buildspec",
            "--artifacts",
            str(rev.artifacts),
            "buildspecs/build.yml",
        ],
        log,
        cwd=rev.src,
        env=build_env(aws, rev, mirror_args, base_env),
    )
    sizes = {}
    for service in stand_ins.REPOSITORIES:
        uri = f"{aws.repository_uris[service]}:{rev.sha}"
        pinned = (rev.bundle(service) / "image.env").read_text()
        if f"IMAGE_URI={uri}\n" != pinned:
            raise StageFailed(f"{service} bundle pins {pinned.strip()!r}, not {uri}")
        # What was pushed is what an instance pulls: check the registry has it.
        sh(["podman", "image", "rm", "--force", uri], log)
        sh(["podman", "pull", "--quiet", uri], log)
        sizes[service] = int(
            sh(["podman", "image", "inspect", "--format", "{{.Size}}", uri], log).strip()
        )
    return sizes


# -- Deploy -----------------------------------------------------------------------------------


def write_instance_env(aws: Aws, emu: Emulator) -> None:
    """/etc/polybot/<service>.env as user data writes it, filled with the rehearsal's values.

    Added below it, what an instance has that the rehearsal replaces: the moto endpoint and
    placeholder keys instead of the instance profile, the emulator instead of Telegram.
    """
    gateway = machine.BRIDGE_GATEWAY
    moto_port = aws.url.rsplit(":", 1)[1]
    port = instance.polybot_port()  # published on the host as-is by the hooks
    values = {
        "AWS::Region": aws.region,
        "Bucket": aws.outputs["ImagesBucketName"],
        "QueueUrl": aws.outputs["JobsQueueUrl"],
        "Table": aws.outputs["PredictionsTableName"],
        "StopTimeout": aws.outputs["JobVisibilityTimeout"],
        "SecretName": aws.outputs["BotTokenSecretName"],
        "PolybotLogGroup": aws.log_groups["polybot"],
        "WorkerLogGroup": aws.log_groups["yolo5"],
        # The emulator on the host delivers updates to the published port.
        "PublicUrl": f"http://127.0.0.1:{port}",
        "PolybotPort": str(port),
        # The worker calls polybot through the host's published port.
        "InternalLoadBalancer.DNSName": f"{gateway}:{port}",
    }
    extra = {
        "AWS_ENDPOINT_URL": f"http://{gateway}:{moto_port}",
        **stand_ins.CREDENTIALS,
        "TELEGRAM_API_URL": f"http://{gateway}:{emu.port}",
    }
    etc = Path("/etc/polybot")
    etc.mkdir(mode=0o755, exist_ok=True)
    for service in stand_ins.REPOSITORIES:
        text = instance.user_data_env(service, values)
        text += "".join(f"{k}={v}\n" for k, v in extra.items())
        path = etc / f"{service}.env"
        path.write_text(text)
        path.chmod(0o600)


def deploy(
    service: str, new: Revision, old: Revision | None, log: Path, env, number: int
) -> list[instance.HookRun]:
    """The hooks of one deployment: ApplicationStop from the bundle that was installed (if
    any), the rest from the new one, stopping at the first failure as CodeDeploy does."""
    runs = []
    deployment = f"d-REHEARSAL{number:02d}"
    for hook in instance.hooks(new.bundle(service)):
        if hook.event == "ApplicationStop":
            if old is None:
                continue
            hook = next(h for h in instance.hooks(old.bundle(service)) if h.event == hook.event)
        run = instance.run_hook(hook, env, deployment, "rehearsal", f"rehearsal-{service}")
        runs.append(run)
        where = hook.script.relative_to(hook.script.parent.parent)
        print(f"   {service} {run.event}: {where} exit {run.returncode} ({run.seconds:.1f}s)")
        with open(log, "a") as out:
            out.write(f"\n# {service} {run.event} (exit {run.returncode}, {run.seconds:.1f}s)\n")
            out.write(run.output)
        if run.returncode != 0:
            raise StageFailed(f"{service} {run.event} failed (exit {run.returncode})")
    return runs


def hook_env(aws: Aws, imds_url: str, base_env) -> dict[str, str]:
    env = machine.environ_with_path(BIN, base_env)
    # The AWS CLI the hooks call reaches moto through the rehearsal's `aws`, with placeholder
    # keys for the instance role.
    env.update(stand_ins.CREDENTIALS, IMDS_URL=imds_url, REHEARSAL_AWS_ENDPOINT=aws.url)
    return env


def podman(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False)


def inspect(name: str, fmt: str) -> str:
    return podman("inspect", "--type", "container", "--format", fmt, name).stdout.strip()


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def healthz_version(body: bytes) -> str | None:
    """The `version` of a /healthz answer, {"status": "ok", "version": "<commit>"}."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return answer.get("version") if isinstance(answer, dict) else None


def check_polybot(log: Path, sha: str) -> None:
    uid = podman("exec", "polybot", "id", "-u").stdout.strip()
    if uid in ("", "0"):
        raise StageFailed(f"polybot runs as uid {uid or '?'}, not a non-root user")
    health = podman("healthcheck", "run", "polybot")
    if health.returncode != 0:
        raise StageFailed(f"polybot's HEALTHCHECK failed: {health.stdout}{health.stderr}")
    status, body = http_get(f"http://127.0.0.1:{instance.polybot_port()}/healthz")
    if status != 200:
        raise StageFailed("polybot's /healthz does not answer through the published port")
    # The hooks' ValidateService checks it too; here it is checked against the built commit.
    if (version := healthz_version(body)) != sha:
        raise StageFailed(f"polybot's /healthz reports version {version!r}, not {sha}")
    with open(log, "a") as out:
        out.write(f"\npolybot runs as uid {uid}; HEALTHCHECK passed; /healthz: version {sha}\n")


def ask_version(emu: Emulator, chat: int = VERSION_CHAT_ID) -> str:
    """/version sent through the emulator; the bot's reply (it answers within the webhook)."""
    client = EmulatorClient(emu.url)
    client.send_text(chat, "/version")
    sent = [m for m in client.messages(chat) if m["method"] == "sendMessage"]
    return sent[-1]["text"] if sent else ""


def expect_version_reply(ask, sha: str, worker: WorkerBuild, log: Path, attempts=20) -> str:
    """/version names `sha` for polybot and `worker` for the worker. polybot keeps the
    worker's side per process, from the items that process answered: a gunicorn worker that
    answered none says "not seen yet", and is asked again (another may take the next call)."""
    seen, not_seen = replies.version(sha, worker), replies.version(sha, None)
    text = ""
    for _ in range(attempts):
        text = ask()
        if text == seen:
            with open(log, "a") as out:
                out.write(f"\n/version: {text}\n")
            return text
        if text != not_seen:
            break
    raise StageFailed(f"/version answered {text!r}, not {seen!r}")


def check_version(emu: Emulator, sha: str, log: Path) -> str:
    """/version in Telegram names the commit both services were built from, and the worker's
    model and backend as its image sets them."""
    env = dict(
        line.split("=", 1)
        for line in inspect("yolo5", "{{range .Config.Env}}{{println .}}{{end}}").splitlines()
        if "=" in line
    )
    worker = WorkerBuild(env.get("YOLO_MODEL", "?"), env.get("YOLO_BACKEND", "?"), sha)
    return expect_version_reply(lambda: ask_version(emu), sha, worker, log)


def run_webhook_command(env, log: Path) -> None:
    """What the pipeline's polybot deploy step has SSM Run Command do on an instance of the
    new fleet (delivery/webhook.py), with the same command."""
    sh(shlex.split(WEBHOOK_COMMAND), log, env=env)


def send_photo(emu: Emulator, chat: int = CHAT_ID) -> dict:
    return EmulatorClient(emu.url).send_photo(chat, sample_image("bus.jpg").read_bytes())


def answers(emu: Emulator, chat: int = CHAT_ID) -> list[dict]:
    sent = EmulatorClient(emu.url).messages(chat)
    return [m for m in sent if m["method"] in ("sendPhoto", "sendDocument")]


def wait_for_answers(emu: Emulator, count: int, timeout: float) -> list[dict]:
    found = wait_until(
        lambda: (lambda got: got if len(got) >= count else None)(answers(emu)),
        timeout,
        f"{count} annotated answers in the emulator's chat",
    )
    for message in found:
        if "bus" not in (message.get("caption") or ""):
            raise StageFailed(f"an answer without the bus in its caption: {message}")
    return found


def drain(aws: Aws, emu: Emulator, stop_hook, log: Path, photos: int = 24) -> tuple[int, int]:
    """Photos in, then ApplicationStop while the worker has work: nothing may be lost.

    Returns (answered, waiting on the queue) right after the stop; together they must be all
    the photos sent, with none left in flight for the visibility timeout.
    """
    before = len(answers(emu))
    # The worker answers a photo about as fast as the emulator takes one in: paused, it lets
    # the queue fill, so the stop below finds a job in hand and more behind it.
    sh(["podman", "pause", "yolo5"], log)
    try:
        for _ in range(photos):
            send_photo(emu)
    finally:
        sh(["podman", "unpause", "yolo5"], log)
    wait_until(lambda: stand_ins.queue_depth(aws)[1] > 0, 30, "the worker to take a job", 0.05)
    stop_hook()
    answered = len(answers(emu)) - before
    visible, in_flight = stand_ins.queue_depth(aws)
    with open(log, "a") as out:
        out.write(
            f"\ndrain: {answered} answered, {visible} back on the queue, {in_flight} in flight\n"
        )
    if not visible:
        raise StageFailed(f"all {photos} photos were done before the stop: nothing was drained")
    if in_flight or answered + visible != photos:
        raise StageFailed(
            f"drain lost jobs: {photos} sent, {answered} answered, {visible} queued, "
            f"{in_flight} still in flight"
        )
    return answered, visible


def expect_refusal(bundle: Path, image_env: str | None, env, needle: str, log: Path) -> None:
    """ApplicationStart from a copy of the bundle whose image.env is bad must refuse to run."""
    bad = bundle.parent / f"{bundle.name}-refused"
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(bundle, bad, symlinks=True)
    if image_env is None:
        (bad / "image.env").unlink()
    else:
        (bad / "image.env").write_text(image_env)
    hook = next(h for h in instance.hooks(bad) if h.event == "ApplicationStart")
    run = instance.run_hook(hook, env, "d-REFUSED", "rehearsal", "rehearsal")
    shutil.rmtree(bad, ignore_errors=True)
    with open(log, "a") as out:
        out.write(f"\n# refused ({needle}): exit {run.returncode}\n{run.output}")
    if run.returncode == 0 or needle not in run.output:
        raise StageFailed(f"ApplicationStart did not refuse an image.env with {needle!r}")


def container_pid(name: str) -> int:
    return int(inspect(name, "{{.State.Pid}}") or 0)


def crash_restarts(name: str, log: Path) -> None:
    """SIGKILL the container's process from outside, as the OOM killer would: the restart
    policy must bring it back with no command from anyone."""
    pid = container_pid(name)
    if not pid:
        raise StageFailed(f"{name} is not running")
    os.kill(pid, 9)
    wait_until(lambda: container_pid(name) not in (0, pid), 60, f"{name} to be restarted")
    with open(log, "a") as out:
        out.write(f"\n{name}: pid {pid} killed, restarted as pid {container_pid(name)}\n")


def reboot(names: list[str], log: Path) -> None:
    """An instance reboot as podman itself handles one.

    Shutdown stops the engine's containers (podman-restart.service's ExecStop does
    `podman stop` on them, as stopping dockerd stops its containers), and boot starts every
    container whose restart policy asks for it, with no command from anyone (its ExecStart,
    `podman start --all --filter restart-policy=...`; here with the hooks' unless-stopped,
    which Docker's daemon honours at boot and that podman unit does not).
    """
    sh(["podman", "stop", "--time", "30", *names], log)
    sh(["podman", "start", "--all", "--filter", "restart-policy=unless-stopped"], log)


def wait_healthy(name: str, timeout: float) -> None:
    def healthy():
        podman("healthcheck", "run", name)
        return inspect(name, "{{.State.Health.Status}}") == "healthy"

    wait_until(healthy, timeout, f"{name} to be healthy", 3)


def remove_containers(names) -> None:
    for name in names:
        podman("rm", "--force", "--time", "5", name)


def env_of_repo(base=os.environ) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(ROOT)
    return env
