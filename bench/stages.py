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
        """Run `count` jobs; CPU ms per image (all of it, and the model's) and images/s."""
        jobs = [self.injector.stage(photos[i % len(photos)], 7000 + i) for i in range(count)]
        self.stub.reset()
        self.injector.send(jobs)
        done, model_ms = 0, 0.0
        # From here on, only the worker's work runs on this thread (staging is not counted).
        cpu, started = time.thread_time(), time.perf_counter()
        while done < count:
            for message in self.processor.queue.receive(1, 0):
                self.processor.keeper.track(message)
                prepared = self.processor.prepare(message)
                if prepared.image is None:
                    raise RuntimeError(f"job not prepared: {prepared.error or prepared.finished}")
                detection = self.detector.detect(prepared.image)
                prepared.image = None
                model_ms += detection.inference_cpu_ms
                self.processor.complete(prepared, detection)
                done += 1
        elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
        if len(self.stub.calls) < count:
            raise RuntimeError(f"only {len(self.stub.calls)}/{count} results reached the stub")
        return {
            "cpu_ms": cpu * 1000 / count,
            "model_cpu_ms": model_ms / count,
            "rate": count / elapsed,
        }
