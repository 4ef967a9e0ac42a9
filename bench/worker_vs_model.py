"""Per-image time: the whole worker path vs calling the loaded model directly, same images.

    .venv/bin/python -m bench.worker_vs_model [--images 20] [--batch 10]

The worker path runs in this process against moto's in-process AWS mock and a stub polybot
over real HTTP: receive → download → decode → detect → annotate → upload → DynamoDB → POST
results → delete. moto's mock runs in the same Python process (it competes with the model for
the GIL, where real AWS would not), so the worker figure is an upper bound.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.pop("AWS_ENDPOINT_URL", None)  # the in-process mock, never a real account

    import logging

    import boto3
    from moto import mock_aws

    from tests.support.images import SHARED_WEIGHTS, sample_image
    from tests.support.servers import serve_wsgi
    from tests.yolo5.conftest import ResultsStub, create_resources, make_processor
    from yolo5.detector import Detector
    from yolo5.images import decode_rgb
    from yolo5.queue import JobsQueue
    from yolo5.worker import Worker

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per stub request otherwise
    photos = [sample_image(n).read_bytes() for n in ("bus.jpg", "zidane.jpg")]
    images = [photos[i % 2] for i in range(args.images)]
    detector = Detector(SHARED_WEIGHTS, "yolov5n")
    detector.warm_up()

    # 1. The loaded model called directly (AutoShape: letterbox + forward + NMS).
    arrays = [decode_rgb(data, 10**8, 10**8) for data in images]
    model_ms = []
    for rgb in arrays:
        started = time.perf_counter()
        detector._model(rgb, size=detector.img_size)
        model_ms.append((time.perf_counter() - started) * 1000)

    # 2. detect(): the model plus labels and the annotated JPEG.
    detect_ms = []
    for rgb in arrays:
        started = time.perf_counter()
        detector.detect(rgb)
        detect_ms.append((time.perf_counter() - started) * 1000)

    # 3. The whole worker path, batches of --batch, I/O overlapped with inference.
    stub = ResultsStub()
    with mock_aws(), serve_wsgi(stub) as base:
        stub.url = f"{base}/results"
        aws = create_resources(boto3.Session(region_name="us-east-1"), visibility=120)
        for data in images:
            aws.send(aws.put_photo(data).to_json())
        processor = make_processor(aws, stub.url)
        worker = Worker(
            processor.queue, processor, processor.keeper, detector, args.batch, 0, _health_path()
        )
        queue = JobsQueue(aws.sqs, aws.queue_url)
        worker.bootstrap()
        started = time.perf_counter()
        try:
            while messages := queue.receive(args.batch, 0):
                for message in messages:
                    worker.keeper.track(message)
                worker._run_batch(messages)
        finally:
            worker.teardown()
        worker_total = (time.perf_counter() - started) * 1000
        assert len(stub.calls) == args.images, f"only {len(stub.calls)} results"

    print(
        f"images: {args.images} (bus.jpg/zidane.jpg alternating), batch {args.batch}, "
        f"torch threads {_threads()}"
    )
    _row("model call (AutoShape)", model_ms)
    _row("detect() (+labels, JPEG)", detect_ms)
    print(
        f"{'worker path (end to end)':28s} {worker_total / args.images:8.1f} ms/image "
        f"(wall {worker_total / 1000:.2f} s for {args.images})"
    )
    overhead = worker_total / args.images - statistics.mean(model_ms)
    print(f"{'worker overhead vs model':28s} {overhead:8.1f} ms/image")


def _row(name: str, samples: list[float]) -> None:
    print(
        f"{name:28s} {statistics.mean(samples):8.1f} ms/image "
        f"(median {statistics.median(samples):.1f}, max {max(samples):.1f})"
    )


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _health_path():
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()) / f"bench-yolo5-{os.getpid()}.health"


if __name__ == "__main__":
    main()
