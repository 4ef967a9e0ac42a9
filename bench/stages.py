"""The worker's stages one after another on one thread: the worker without its concurrency.

The JobProcessor and detector the worker builds (yolo5.bootstrap.build_worker, the settings a
rig's worker gets), against the same moto server and results stub, on resources of their own so
the rig's worker never takes these jobs: receive → prepare → detect → complete, one job at a
time, on this thread. Its CPU per image beside the real worker's is what the worker's threads,
pools and polling cost: the concurrency overhead of figure 1.

CPU is this thread's (time.thread_time): boto3, decoding, the model and the annotation all run
on the calling thread, and the bench process's other threads (the results stub, samplers) are
not counted.
"""

from __future__ import annotations

import time

from bench.jobs import JobInjector, bound_to
from local.bootstrap import create_resources
from yolo5.bootstrap import build_worker
from yolo5.settings import Settings


class SingleThreadedStages:
    def __init__(self, rig, detector) -> None:
        moto = bound_to(rig.session, rig.moto_url)
        resources = create_resources(moto, "stages", 60)
        self.injector = JobInjector(moto, resources)
        settings = Settings.from_env(rig.worker_env(0, resources, rig.stub_url))
        self.detector = detector
        self.processor = build_worker(settings, detector, moto).processor
        self.stub = rig.stub

    def run(self, photos: list[bytes], count: int) -> dict:
        """Run `count` jobs; CPU ms per image (all of it, the model's and each stage's) and
        images/s."""
        jobs = [self.injector.stage(photos[i % len(photos)], 7000 + i) for i in range(count)]
        self.stub.reset()
        self.injector.send(jobs)
        stages = dict.fromkeys(STAGES, 0.0)
        done = 0
        # From here on, only the worker's work runs on this thread (staging is not counted).
        cpu, started = time.thread_time(), time.perf_counter()
        while done < count:
            done += self._one_poll(stages)
        elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
        if len(self.stub.calls) < count:
            raise RuntimeError(f"only {len(self.stub.calls)}/{count} results reached the stub")
        return {
            "cpu_ms": cpu * 1000 / count,
            "model_cpu_ms": stages["model"] / count,
            "stages_ms": {name: ms / count for name, ms in stages.items()},
            "rate": count / elapsed,
        }

    def _one_poll(self, stages: dict[str, float]) -> int:
        """Receive (a short poll, as the worker's lookahead does) and run what came, adding each
        stage's CPU ms to `stages`; returns the number of jobs run."""
        processor, clock = self.processor, time.thread_time
        mark = clock()
        messages = processor.queue.receive(1, 0)
        stages["receive"] += (clock() - mark) * 1000
        for message in messages:
            processor.keeper.track(message)
            mark = clock()
            prepared = processor.prepare(message)
            stages["download + decode"] += (clock() - mark) * 1000
            if not prepared.needs_model:
                raise RuntimeError(f"job not prepared: {prepared.error or prepared.finished}")
            detection = self.detector.detect(prepared.image)
            prepared.image = None
            stages["model"] += detection.inference_cpu_ms
            mark = clock()
            outcome = processor.complete(prepared, detection)
            stages["annotate + upload + record + notify"] += (clock() - mark) * 1000
            mark = clock()
            processor.keeper.finish(message, delete=outcome.deletes)  # as the worker ends it
            stages["delete"] += (clock() - mark) * 1000
        return len(messages)


# Each stage's share of the CPU per image, in the order a job goes through them.
STAGES = (
    "receive",
    "download + decode",
    "model",
    "annotate + upload + record + notify",
    "delete",
)
