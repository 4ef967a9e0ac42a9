"""`make up`: run the whole service on this machine until Ctrl-C.

Prepares the environment every Procfile process shares (ports, a fresh bot token for the
emulator, throwaway AWS credentials for moto), starts the Procfile under honcho, prints the
chat page URL once the stack is ready, and on Ctrl-C (or SIGTERM) lets honcho stop every
process, then checks that the ports are free again.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from common.env import env_int
from local.config import ROOT, LocalConfig
from local.processes import honcho_command

READY_TIMEOUT = 300


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def git_commit(root: Path = ROOT) -> str | None:
    """HEAD's commit when root is a git checkout; None for a tree without .git (an unpacked
    zip, like CodeBuild's source) or without git."""
    if not (root / ".git").exists():
        return None
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            ["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def stack_environment(cfg: LocalConfig, base=os.environ) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
    # The services report the commit they run (/healthz, /version, their start-up event), as
    # the images built by buildspecs/build.yml do; an APP_VERSION given by the caller wins.
    if not env.get("APP_VERSION") and (commit := git_commit()):
        env["APP_VERSION"] = commit
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        MOTO_PORT=str(cfg.moto_port),
        EMULATOR_PORT=str(cfg.emulator_port),
        POLYBOT_PORT=str(cfg.polybot_port),
        LOCAL_STATE_DIR=str(cfg.state_dir),
        # A fresh token per run: nothing to leak, nothing to keep in git.
        EMULATOR_TOKEN=f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}",
        # moto accepts any credentials; never hand it a developer's real ones.
        AWS_ACCESS_KEY_ID="local-moto",
        AWS_SECRET_ACCESS_KEY="local-moto",  # noqa: S106 - a placeholder moto ignores
        AWS_REGION=cfg.region,
        AWS_DEFAULT_REGION=cfg.region,
        AWS_ENDPOINT_URL=cfg.moto_url,
        YOLO_AUTOINSTALL="false",
        YOLOv5_AUTOINSTALL="false",
    )
    # Short long-polls locally so Ctrl-C never waits on an idle receive.
    env.setdefault("WORKER_WAIT_SECONDS", "2")
    return env


def announce_when_ready(cfg: LocalConfig, honcho: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while honcho.poll() is None and time.monotonic() < deadline:
        if cfg.ready_file.exists():
            print(
                f"\n  Polybot is up. Chat page: {cfg.emulator_url}/\n"
                f"  polybot {cfg.polybot_url}  moto {cfg.moto_url}  -- Ctrl-C stops everything\n",
                flush=True,
            )
            return
        time.sleep(0.3)


def main() -> int:
    cfg = LocalConfig.from_env()
    busy = [f"{name} ({port})" for name, port in cfg.ports().items() if port_in_use(port)]
    if busy:
        print(f"ports in use: {', '.join(busy)} - is another stack running?", file=sys.stderr)
        return 1
    shutil.rmtree(cfg.state_dir, ignore_errors=True)  # stale outputs would mislead the services
    cfg.state_dir.mkdir(parents=True)
    workers = env_int("WORKERS", 1, lo=0, hi=16)  # 0: polybot alone (the ingest benchmark)
    print(f">> starting moto, the Telegram emulator, polybot and {workers} yolo5 worker(s)")
    honcho = subprocess.Popen(  # noqa: S603 - fixed argv
        honcho_command(workers),
        env=stack_environment(cfg),
        cwd=ROOT,
    )
    # Ctrl-C reaches honcho directly (same process group); SIGTERM is forwarded.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: honcho.send_signal(signal.SIGTERM))
    threading.Thread(target=announce_when_ready, args=(cfg, honcho), daemon=True).start()
    code = honcho.wait()
    cfg.ready_file.unlink(missing_ok=True)  # a stopped stack must not look ready
    still = [f"{name} ({port})" for name, port in cfg.ports().items() if port_in_use(port)]
    if still:
        print(f"after shutdown, ports still in use: {', '.join(still)}", file=sys.stderr)
        return 1
    print(">> stack stopped, ports free")
    # honcho reports the first process's exit code; a clean Ctrl-C is success.
    return 0 if code in (0, 130, 143, -2, -15) else code


if __name__ == "__main__":
    sys.exit(main())
