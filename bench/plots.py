"""The PNG figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def load_curve(ingest: dict, path: Path) -> Path:
    """Figure 3: achieved throughput and webhook latency against the offered rate."""
    plt = _pyplot()
    points = sorted(ingest["sweep"], key=lambda p: p["offered"])
    offered = [p["offered"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(offered, [p["achieved"] for p in points], "o-", label="achieved")
    left.plot(offered, offered, ":", color="grey", label="offered (ideal)")
    left.axhline(30, color="red", lw=0.8, ls="--", label="goal 30/s")
    left.set(xlabel="offered photo updates/s", ylabel="photo updates/s", title="Throughput")
    left.legend()
    for q in ("p50", "p95", "p99"):
        right.plot(offered, [p[q] for p in points], "o-", label=q)
    right.axhline(500, color="red", lw=0.8, ls="--", label="goal p95 500 ms")
    right.set(xlabel="offered photo updates/s", ylabel="webhook round trip, ms", title="Latency")
    right.set_yscale("log")
    right.legend()
    fig.suptitle("polybot ingest (gunicorn, production settings) behind the emulator, vs moto")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def backlog(result: dict, path: Path) -> Path:
    """Figure 7: queue depth and answered photos over time."""
    plt = _pyplot()
    outcome = result["outcome"]
    t = [s.t for s in outcome.samples]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, [s.visible for s in outcome.samples], label="queue: visible")
    ax.plot(t, [s.visible + s.in_flight for s in outcome.samples], label="queue: visible+in flight")
    ax.plot(t, [s.done for s in outcome.samples], label="answered")
    ax.axvline(outcome.send_seconds, color="grey", ls=":", label="last photo sent")
    ax.set(
        xlabel="seconds since the first photo",
        ylabel="photos",
        title=f"{result['rate']:.0f} photos/s for {result['seconds']:.0f} s, one worker",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
