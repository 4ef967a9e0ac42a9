"""Export the verified YOLOv5 checkpoint to ONNX, once, for the backend that runs without torch.

`python -m yolo5.export [--weights PT] [--out ONNX]`: the checkpoint is found as the worker
finds it (YOLO_WEIGHTS, the cache, the pinned download) and verified against the pinned
sha256 before anything unpickles it. The ONNX file gets a sha256sum-format sidecar
(`<file>.sha256`), which yolo5.onnx_detector checks before it loads the model.

The graph ends at the detection head's three 1x1 convolutions: the box decoding stays out of
it. With it, onnxruntime (1.32) fails on any input shape but the traced one ("Shape mismatch
attempting to re-use buffer" in the head's Split), and outside it the decoding can skip the
anchors whose objectness is under the threshold, which is nearly all of them. Height and
width are dynamic, so each photo gets the same rectangular stride-32 letterbox as torch's
AutoShape. The same environment exports the same bytes (tests/yolo5/test_export.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

from yolo5.weights import Source

OPSET = 17
TRACE_SIZE = 640  # the traced input's height and width; both are dynamic in the graph


def sidecar(model: Path) -> Path:
    return model.with_name(model.name + ".sha256")


def export(weights: Path, out: Path) -> Path:
    """Write the ONNX model of a verified checkpoint to `out`, then its sha256 sidecar."""
    import onnx

    from yolo5.torch_detector import load_model

    torch, model = load_model(weights)
    head = model.model[-1]
    layers = range(head.nl)
    dynamic = {"images": {2: "height", 3: "width"}}
    dynamic |= {f"p{i}": {2: f"h{i}", 3: f"w{i}"} for i in layers}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        traced = Path(scratch) / out.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                _raw_head(model),
                torch.zeros(1, 3, TRACE_SIZE, TRACE_SIZE),
                str(traced),
                opset_version=OPSET,
                do_constant_folding=True,
                input_names=["images"],
                output_names=[f"p{i}" for i in layers],
                dynamic_axes=dynamic,
                dynamo=False,
            )
        graph = onnx.load(str(traced))
        for key, value in _metadata(model, weights).items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(traced))
        digest = hashlib.sha256(traced.read_bytes()).hexdigest()
        os.replace(traced, out)
    sidecar(out).write_text(f"{digest}  {out.name}\n")
    return out


def _metadata(model, weights: Path) -> dict[str, str]:
    """What decoding needs and the graph does not hold: strides, anchors (pixels), names."""
    from yolo5.weights import sha256_of

    head = model.model[-1]
    strides = [int(s) for s in head.stride.tolist()]
    anchors = (head.anchors * head.stride.view(-1, 1, 1)).tolist()
    names = [model.names[i] for i in sorted(model.names)]
    return {
        "strides": json.dumps(strides),
        "anchors": json.dumps(
            [[[round(v, 4) for v in pair] for pair in level] for level in anchors]
        ),
        "names": json.dumps(names),
        "source_sha256": sha256_of(weights),
    }


def _raw_head(model):
    """The model up to and including the detection head's convolutions (a torch Module)."""
    import torch

    class RawHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x):
            outputs: list = []
            head = self.model.model[-1]
            for layer in self.model.model:
                if layer.f != -1:  # this layer reads earlier outputs, as in BaseModel
                    x = (
                        outputs[layer.f]
                        if isinstance(layer.f, int)
                        else [x if j == -1 else outputs[j] for j in layer.f]
                    )
                if layer is head:
                    return tuple(head.m[i](x[i]) for i in range(head.nl))
                x = layer(x)
                outputs.append(x if layer.i in self.model.save else None)
            raise RuntimeError("the model has no detection head")

    return RawHead().eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m yolo5.export", description=__doc__)
    parser.add_argument("--weights", type=Path, help="checkpoint (default: as the worker finds it)")
    parser.add_argument("--out", type=Path, help="ONNX file (default: beside the checkpoint)")
    args = parser.parse_args(argv)
    weights = args.weights or Source.from_env().resolve()
    out = export(weights, args.out or weights.with_suffix(".onnx"))
    print(f"{out} ({sidecar(out).read_text().split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
