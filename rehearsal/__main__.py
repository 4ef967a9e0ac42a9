"""`make rehearse`: the delivery pipeline's stages, in order, on this machine, with real tools.

Source (a git archive zip of HEAD) → Test (buildspecs/test.yml) → Build (buildspecs/build.yml:
podman as docker, a registry on loopback, the AWS CLI against a moto server) → Deploy (each
bundle's hooks in CodeDeploy's order, on podman) → a second revision → restarts. Each stage
prints what it ran and how long it took; the first failure ends the run with its log's tail.
Runs as root (podman's rootful mode is what works here; the hooks run as root on an instance).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from local.config import ROOT
from rehearsal import machine, stages, stand_ins
from rehearsal.stages import StageFailed

REGION = "us-east-1"
PREFIX = "rehearsal"
REGISTRY_PORT = 80  # an ECR host name has no port; the registry answers on HTTP's own
LOG_TAIL = 60


class Report:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.rows: list[tuple[str, float, str]] = []

    @contextmanager
    def stage(self, name: str, what: str):
        log = self.logs / f"{len(self.rows) + 1:02d}-{name.replace(' ', '-')}.log"
        print(f"\n== {name}: {what}", flush=True)
        started = time.monotonic()
        notes: list[str] = []
        try:
            yield log, notes
        except Exception as exc:
            seconds = time.monotonic() - started
            print(f"!! {name} failed after {seconds:.0f}s: {type(exc).__name__}: {exc}")
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
                print(f"-- last {len(tail)} lines of {log}:")
                print("\n".join(tail))
            self.rows.append((name, seconds, "FAILED"))
            self.print()
            raise
        seconds = time.monotonic() - started
        self.rows.append((name, seconds, "; ".join(notes)))
        print(f"-- {name} passed in {seconds:.0f}s" + (f": {'; '.join(notes)}" if notes else ""))

    def print(self) -> None:
        print("\n== rehearsal report")
        for name, seconds, notes in self.rows:
            print(f"{name:<22} {seconds:7.0f}s  {notes}")
        print(f"{'total':<22} {sum(r[1] for r in self.rows):7.0f}s")


def mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def revision_two(work: Path, log: Path) -> Path:
    """A clone of HEAD with one more commit that changes both images' code."""
    repo = work / "revision-2"
    shutil.rmtree(repo, ignore_errors=True)
    stages.sh(["git", "clone", "--quiet", str(ROOT), str(repo)], log)
    init = repo / "common" / "__init__.py"
    init.write_text(init.read_text() + "# delivery rehearsal: revision 2\n")
    stages.sh(
        [
            "git",
            "-c",
            "user.name=rehearsal",
            "-c",
            "user.email=rehearsal@localhost",
            "commit",
            "--quiet",
            "-am",
            "rehearsal: revision 2",
        ],
        log,
        cwd=repo,
    )
    return repo


@dataclass
class Run:
    """What the stages hand on to each other: each stage sets what the later ones use."""

    args: argparse.Namespace
    report: Report
    work: Path
    services: ExitStack  # what the machine stage started, stopped when the run ends
    base_env: dict[str, str] = field(default_factory=stages.env_of_repo)
    rev1: stages.Revision | None = None
    rev2: stages.Revision | None = None
    aws: stand_ins.Aws | None = None
    emu: stand_ins.Emulator | None = None
    mirror: dict[str, str] = field(default_factory=dict)  # build arguments for the mirror
    hook_env: dict[str, str] = field(default_factory=dict)
    drained: int = 0  # photos sent in the drain stage (answered or queued)
    queued: int = 0  # of which were back on the queue when the worker stopped


def source_stage(run: Run) -> None:
    with run.report.stage("source", "git archive --format=zip of HEAD (CODE_ZIP)") as (
        log,
        notes,
    ):
        run.rev1 = stages.source(ROOT, "HEAD", run.work, log)
        notes.append(f"{run.rev1.sha[:12]}, {run.rev1.zip.stat().st_size // 1024} KiB")


def test_stage(run: Run) -> None:
    if run.args.skip_test:
        return
    with run.report.stage("test", "buildspecs/test.yml in a fresh unpacked zip") as (log, _):
        stages.test(run.rev1, log, run.base_env)


def machine_stage(run: Run) -> None:
    services = run.services
    what = "podman config, stand-in base image, moto, emulator"
    with run.report.stage("machine", what) as (_, notes):
        run.aws = services.enter_context(
            stand_ins.moto(run.report.logs, run.base_env, PREFIX, REGION)
        )
        services.enter_context(machine.podman_configured(run.aws.registry_host, REGISTRY_PORT))
        for image in machine.base_images(ROOT / s / "Dockerfile" for s in stand_ins.REPOSITORIES):
            machine.base_image(image, notes.append)
        run.emu = services.enter_context(stand_ins.emulator(run.report.logs, run.base_env, run.aws))
        services.enter_context(machine.registry(run.work / "registry", REGISTRY_PORT))
        weights = Path(run.base_env.get("YOLO_WEIGHTS") or weights_path())
        run.mirror = services.enter_context(machine.mirror(machine.torch_index_root(), weights))
        imds_url = services.enter_context(machine.imds(REGION))
        run.hook_env = stages.hook_env(run.aws, imds_url, run.base_env)
    # Stopped before the podman settings and the registry go (an ExitStack unwinds in reverse).
    services.callback(stages.remove_containers, stand_ins.REPOSITORIES)
    services.callback(remove_env_files)


def build_stage(run: Run) -> None:
    with run.report.stage("build", "buildspecs/build.yml (podman, registry, AWS CLI)") as (
        log,
        notes,
    ):
        sizes = stages.build(run.rev1, run.aws, run.mirror, log, run.base_env)
        notes += [f"{s} {mib(n)}" for s, n in sizes.items()]


def deploy_stage(run: Run) -> None:
    run.services.enter_context(machine.health_timer(stand_ins.REPOSITORIES))
    with run.report.stage("deploy", "hooks in lifecycle order on podman") as (log, notes):
        stages.write_instance_env(run.aws, run.emu)
        for service in stand_ins.REPOSITORIES:
            runs = stages.deploy(service, run.rev1, None, log, run.hook_env, 1)
            notes.append(f"{service} " + ", ".join(f"{r.event} {r.seconds:.0f}s" for r in runs))
            if service == "polybot":
                stages.check_polybot(log, run.rev1.sha)
                stages.run_webhook_command(run.hook_env, log)
        stages.send_photo(run.emu)
        stages.wait_for_answers(run.emu, 1, 120)
        notes.append("a photo sent through the emulator was answered")
        notes.append(stages.check_version(run.emu, run.rev1.sha, log))


def drain_stage(run: Run) -> None:
    with run.report.stage("drain", "yolo5 ApplicationStop with jobs in hand") as (log, notes):
        hooks = stages.instance.hooks(run.rev1.bundle("yolo5"))
        stop = next(h for h in hooks if h.event == "ApplicationStop")

        def stop_worker():
            result = stages.instance.run_hook(stop, run.hook_env, "d-DRAIN", "rehearsal", "yolo5")
            with open(log, "a") as out:
                out.write(result.output)
            if result.returncode:
                raise StageFailed("yolo5 ApplicationStop failed")

        answered, run.queued = stages.drain(run.aws, run.emu, stop_worker, log)
        notes.append(f"{answered} answered before the stop, {run.queued} back on the queue at once")
        run.drained = answered + run.queued


def revision_two_stage(run: Run) -> None:
    with run.report.stage("revision 2", "a change: source, build, deploy again") as (log, notes):
        rev2 = run.rev2 = stages.source(revision_two(run.work, log), "HEAD", run.work, log)
        stages.build(rev2, run.aws, run.mirror, log, run.base_env)
        for service in stand_ins.REPOSITORIES:
            stages.deploy(service, rev2, run.rev1, log, run.hook_env, 2)
            image = stages.inspect(service, "{{.ImageName}}")
            if not image.endswith(rev2.sha):
                raise StageFailed(f"{service} runs {image}, not revision 2")
        stages.check_polybot(log, rev2.sha)
        stages.wait_for_answers(run.emu, 1 + run.drained, 180)
        notes.append(f"both services run {rev2.sha[:12]}; the {run.queued} queued jobs answered")
        notes.append(stages.check_version(run.emu, rev2.sha, log))
        bundle = rev2.bundle("polybot")
        latest = f"IMAGE_URI={run.aws.repository_uris['polybot']}:latest\n"
        stages.expect_refusal(bundle, latest, run.hook_env, "floating tag latest", log)
        stages.expect_refusal(bundle, None, run.hook_env, "image env file", log)
        stages.check_polybot(log, rev2.sha)
        notes.append(":latest and a missing image.env refused, polybot kept serving")


def restarts_stage(run: Run) -> None:
    with run.report.stage("restarts", "a killed container, then a reboot") as (log, notes):
        for service in stand_ins.REPOSITORIES:
            stages.crash_restarts(service, log)
            stages.wait_healthy(service, 240)
        notes.append("killed containers came back")
        stages.reboot(list(stand_ins.REPOSITORIES), log)
        for service in stand_ins.REPOSITORIES:
            stages.wait_healthy(service, 240)
        stages.check_polybot(log, run.rev2.sha)
        stages.send_photo(run.emu)
        stages.wait_for_answers(run.emu, 2 + run.drained, 180)
        notes.append("after the reboot both served and a photo was answered")


STAGES = (
    source_stage,
    test_stage,
    machine_stage,
    build_stage,
    deploy_stage,
    drain_stage,
    revision_two_stage,
    restarts_stage,
)


def rehearse(args, report: Report, work: Path) -> None:
    """Every stage in order; what the machine stage started stops when the run ends."""
    with ExitStack() as services:
        run = Run(args, report, work, services)
        for stage in STAGES:
            stage(run)


def weights_path() -> str:
    from yolo5.weights import Source

    return str(Source.from_env().resolve())


def remove_env_files() -> None:
    for service in stand_ins.REPOSITORIES:
        Path(f"/etc/polybot/{service}.env").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__)
    parser.add_argument("--skip-test", action="store_true", help="skip the Test stage")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("make rehearse runs as root (rootful podman, hooks as CodeDeploy runs them)")
        return 2
    for tool in ("podman", "docker-registry", "mmdebstrap", "/usr/bin/aws", "git"):
        if not shutil.which(tool):
            print(f"make rehearse needs {tool}: see docs/delivery.md for the packages")
            return 2
    work = ROOT / ".cache" / "rehearsal"
    shutil.rmtree(work, ignore_errors=True)
    logs = work / "logs"
    logs.mkdir(parents=True)
    report = Report(logs)
    # A SIGTERM unwinds the run as a failure does, so what it set up on the machine is undone.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        rehearse(args, report, work)
    except (StageFailed, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"\nmake rehearse failed: {exc} (logs in {logs})")
        return 1
    report.print()
    print(f"\nmake rehearse passed (logs in {logs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
