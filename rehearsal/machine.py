"""What this machine needs before the pipeline's stages can run on it, and nothing the product has.

Every function here is a substitution or a bridge for something a build or an instance has on
AWS and this machine has not (docs/delivery.md lists each with its reason):
- podman's engine configuration (runc, cgroupfs, ulimits under this machine's hard limit), as
  drop-ins that are removed again when the rehearsal ends;
- the base image under the exact name in the Dockerfiles' `FROM`, built from Debian packages,
  because no container registry is reachable;
- a registry on loopback under an ECR-shaped host name (the hooks accept only ECR images);
- a mirror of what a build cannot reach: PyTorch's wheels from this machine's pip index, and
  the checkpoint the worker would download from GitHub;
- the instance metadata service the hooks read the region from;
- the systemd timers podman would use to run HEALTHCHECK.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

BASE_IMAGE_PACKAGES = "python3,python3-pip,python3-venv,python-is-python3,ca-certificates"
# podman's default nofile (1048576) is above this machine's hard limit, and runc then refuses
# to start any container; crun cannot run here ("cgroups in hybrid mode not supported").
CONTAINERS_CONF = """\
# Written by the delivery rehearsal (rehearsal/machine.py) for this machine's kernel limits,
# and removed when it ends.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"

[network]
# Debian's podman also ships a CNI config, without the CNI plugins; netavark is what works.
network_backend = "netavark"
"""
MACHINE_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# The address a container reaches the host at: the default podman bridge's gateway.
BRIDGE_GATEWAY = "10.88.0.1"
MIRROR_PORT = int(os.environ.get("REHEARSAL_MIRROR_PORT", "8765"))


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kwargs)


# Drop-ins podman reads after /etc/containers/containers.conf and registries.conf (sorted by
# name, later ones winning; containers.conf(5), containers-registries.conf.d(5)), so the
# machine's own files are never touched, and the rehearsal removes them when it ends.
CONTAINERS_DROP_IN = Path("/etc/containers/containers.conf.d/90-polybot-rehearsal.conf")
REGISTRIES_DROP_IN = Path("/etc/containers/registries.conf.d/50-polybot-rehearsal.conf")
# podman-docker prints a notice on every call unless this file exists.
NODOCKER = Path("/etc/containers/nodocker")
HOSTS = Path("/etc/hosts")
HOSTS_MARK = "  # polybot delivery rehearsal"


def registry_drop_in(registry_host: str, registry_port: int) -> str:
    location = registry_host if registry_port == 80 else f"{registry_host}:{registry_port}"
    return f'[[registry]]\nlocation = "{location}"\ninsecure = true\n'


@contextmanager
def podman_configured(registry_host: str, registry_port: int) -> Iterator[None]:
    """podman's engine settings, and the loopback registry admitted over plain HTTP under its
    ECR name (a drop-in and an /etc/hosts line), until the context ends, also on failure."""
    made: list[Path] = []  # files and directories to remove at the end, newest last
    try:
        for path, text in (
            (CONTAINERS_DROP_IN, CONTAINERS_CONF),
            (REGISTRIES_DROP_IN, registry_drop_in(registry_host, registry_port)),
        ):
            if not path.parent.is_dir():
                path.parent.mkdir(parents=True)
                made.append(path.parent)
            path.write_text(text)
            made.append(path)
        if not NODOCKER.exists():
            NODOCKER.touch()
            made.append(NODOCKER)
        map_host(registry_host, "127.0.0.1")
        yield
    finally:
        unmap_hosts()
        for path in reversed(made):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)


def map_host(name: str, address: str) -> None:
    """An /etc/hosts line, so the ECR-shaped registry name resolves to the loopback registry."""
    line = f"{address} {name}{HOSTS_MARK}\n"
    text = HOSTS.read_text()
    if line not in text:
        # Written in place: /etc/hosts may be a bind mount, which a rename would not replace.
        HOSTS.write_text(text + ("" if text.endswith("\n") else "\n") + line)


def unmap_hosts() -> None:
    """Every line map_host added (this run's, or one a killed run left)."""
    lines = HOSTS.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.rstrip("\n").endswith(HOSTS_MARK)]
    if kept != lines:
        HOSTS.write_text("".join(kept))


def base_images(dockerfiles: Iterable[Path]) -> list[str]:
    """The images the Dockerfiles build `FROM`, in order, once each; a `FROM` that names an
    earlier stage (`FROM export`) is not an image to provide."""
    images: list[str] = []
    for dockerfile in dockerfiles:
        stages: set[str] = set()
        for line in dockerfile.read_text().splitlines():
            words = line.split()
            if not words or words[0].upper() != "FROM":
                continue
            words = [w for w in words[1:] if not w.startswith("--")]  # --platform=...
            if "$" in words[0]:
                raise ValueError(f"{dockerfile}: FROM {words[0]} needs a build argument")
            if words[0] not in stages and words[0] not in images:
                images.append(words[0])
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
    return images


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name], check=False).returncode == 0


def base_image(name: str, log) -> None:
    """Debian bookworm's Python under the official image's name, unless podman has it already.

    The official image keeps its Python in /usr/local; Debian's is 3.11.2 in /usr. pip inside
    a build reaches PyPI through this machine's TLS-intercepting proxy, so the image carries
    the machine's CA bundle and the settings Debian's pip needs; none of it is in a Dockerfile.
    """
    if image_exists(name):
        log(f"base image {name} is present")
        return
    with tempfile.TemporaryDirectory(prefix="rehearsal-base.") as tmp:
        tar = Path(tmp, "base.tar")
        log(f"building the stand-in base image {name} with mmdebstrap")
        run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                f"--include={BASE_IMAGE_PACKAGES}",
                # The machine's CA bundle as one more file (appending to the tar would
                # duplicate its directories, which podman import refuses).
                f'--customize-hook=cp {MACHINE_CA} "$1/etc/ssl/certs/machine-ca.crt"',
                "bookworm",
                str(tar),
            ]
        )
        changes = [
            "ENV PIP_CERT=/etc/ssl/certs/machine-ca.crt",
            "ENV PIP_BREAK_SYSTEM_PACKAGES=1",
            # The mirror below serves over plain HTTP on the bridge.
            f"ENV PIP_TRUSTED_HOST={BRIDGE_GATEWAY}",
            'CMD ["python3"]',
        ]
        run(
            ["podman", "import", "--quiet", *(f"--change={c}" for c in changes), str(tar), name],
            stdout=subprocess.DEVNULL,
        )


def pip_indexes() -> list[Path]:
    """This machine's local pip indexes (file:// URLs in its pip configuration)."""
    result = subprocess.run(
        ["python3", "-m", "pip", "config", "get", "global.extra-index-url"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [
        Path(url.removeprefix("file://"))
        for url in result.stdout.split()
        if url.startswith("file://")
    ]


def torch_index_root() -> Path:
    """The local index that holds torch (its `simple/` and the files it links to)."""
    for simple in pip_indexes():
        if (simple / "torch").is_dir():
            return simple.parent
    raise RuntimeError("no local pip index with torch on this machine (pip config extra-index-url)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextmanager
def http_server(handler, host: str, port: int = 0) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def mirror(torch_root: Path, weights: Path) -> Iterator[dict[str, str]]:
    """Serve the torch index and the checkpoint to builds, at the bridge gateway.

    Yields the build arguments that point yolo5/Dockerfile at it (their defaults are the
    real sources: PyTorch's CPU index and GitHub's release).
    """
    with tempfile.TemporaryDirectory(prefix="rehearsal-mirror.") as tmp:
        Path(tmp, "torch").symlink_to(torch_root)
        Path(tmp, "weights").mkdir()
        Path(tmp, "weights", weights.name).symlink_to(weights.resolve())
        handler = functools.partial(_QuietHandler, directory=tmp)
        # Containers see the host at the gateway; 0.0.0.0 because the bridge may not exist yet.
        # A fixed port: the URL is a build argument, and a new one would void podman's layer
        # cache for the steps that use it on every run.
        with http_server(handler, "0.0.0.0", MIRROR_PORT) as port:  # noqa: S104 - see above
            base = f"http://{BRIDGE_GATEWAY}:{port}"
            yield {"TORCH_INDEX_URL": f"{base}/torch/simple", "WEIGHTS_URL": f"{base}/weights"}


class _Imds(http.server.BaseHTTPRequestHandler):
    """IMDSv2's two calls the hooks make: a session token, then the region with that token."""

    region = "us-east-1"
    token = "rehearsal-imds-token"  # noqa: S105 - a session token of a stand-in service

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get(
            "X-aws-ec2-metadata-token-ttl-seconds"
        ):
            self._answer(200, self.token)
        else:
            self._answer(400, "")

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != self.token:
            self._answer(401, "")
        elif self.path == "/latest/meta-data/placement/region":
            self._answer(200, self.region)
        else:
            self._answer(404, "")

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


@contextmanager
def imds(region: str) -> Iterator[str]:
    handler = type("Imds", (_Imds,), {"region": region})
    with http_server(handler, "127.0.0.1") as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def registry(workdir: Path, port: int) -> Iterator[None]:
    """Debian's docker-registry (the CNCF distribution registry) on loopback, no auth."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with open(workdir / "registry.log", "w") as out:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, 20, "docker-registry")
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for_port(port: int, timeout: float, what: str) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} is not listening on port {port} after {timeout:.0f}s")


@contextmanager
def health_timer(names: Iterable[str], every: float = 5.0) -> Iterator[None]:
    """Run each running container's HEALTHCHECK every few seconds, as podman's systemd timers
    would: there is no systemd here, and `podman healthcheck run` updates .State.Health."""
    stop = threading.Event()
    names = tuple(names)

    def loop():
        while not stop.wait(every):
            for name in names:
                subprocess.run(
                    ["podman", "healthcheck", "run", name],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                )

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def environ_with_path(extra_bin: Path, base=os.environ) -> dict[str, str]:
    env = dict(base)
    env["PATH"] = f"{extra_bin}{os.pathsep}{env.get('PATH', '')}"
    return env
