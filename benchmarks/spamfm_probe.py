"""What SPAMFM contributes to a trained fused teacher, on one split's test recordings.

Runs the teachers of a model file under the honest protocol (each recording with the saved
reference set) and measures, at every SPAMFM layer: how much the channel gates vary from
sample to sample (relative to their mean), how uniform the batch similarity G is (its rows
are what mixes the samples), and the test accuracy when every gate is replaced by its mean
over the training recordings (SPAMFM as a fixed channel rescaling). Prints a JSON line.

    python -m benchmarks.spamfm_probe --workspace benchmarks/.work/.../fused-seed0 --split cross_subject
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from pipeline.data import SensorImages
from pipeline.metrics import accuracy_of
from pipeline.workflow.inputs import Inputs, SplitData
from pipeline.workflow.teacher_inference import load_teacher_predictor
from pipeline.models.teachers import SemanticFusion
from pipeline.training import Runtime


def gate_records(predictor, dataset) -> tuple[dict, torch.Tensor]:
    """Per fusion layer, the gates of each sample's own row (N, modalities, C); and logits."""
    records: dict[str, list] = {}
    group = predictor.group_size

    def hook(name):
        def record(module: SemanticFusion, inputs, output):
            features = inputs[0]
            gates = module.gates(features, inputs[1] if len(inputs) > 1 else None)
            records.setdefault(name, []).append(torch.stack(gates, 1)[group - 1 :: group].detach())
        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in predictor.teacher.fusions.items()]
    try:
        logits = predictor.predict(dataset)["logits"]
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.cat(values) for name, values in records.items()}, logits


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spamfm_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="a benchmark workspace holding data/ and models/")
    parser.add_argument("--split", default="cross_subject")
    args = parser.parse_args(argv)
    root = Path(args.workspace)
    runtime = Runtime(torch.device("cpu"))
    data = SplitData(args.split, Inputs(str(root / "data/manifest.csv"), str(root / "data/splits.csv"),
                                        str(root / "data/class_embeddings.h5"), gaf=str(root / "data/gaf.h5")))
    predictor = load_teacher_predictor(root / "models" / args.split / "teachers.pt", runtime)
    sensors = predictor.teacher.sensors
    test = SensorImages(root / "data/gaf.h5", sensors, data.recordings("test"))
    train = SensorImages(root / "data/gaf.h5", sensors, data.recordings("train"))
    with torch.no_grad():
        test_gates, logits = gate_records(predictor, test)
        train_gates, _ = gate_records(predictor, train)
    result = {"accuracy": round(accuracy_of(logits, test.labels), 2), "layers": {}}
    # SPAMFM with each gate fixed at its training mean: a constant channel rescaling.
    means = {name: gates.mean(0) for name, gates in train_gates.items()}
    originals = {name: module.gates for name, module in predictor.teacher.fusions.items()}
    for name, module in predictor.teacher.fusions.items():
        mean = means[name]
        module.gates = lambda features, group_size=None, mean=mean: [
            mean[k].expand(features[0].shape[0], -1) for k in range(mean.shape[0])]
    with torch.no_grad():
        fixed = predictor.predict(test)["logits"]
    for name, module in predictor.teacher.fusions.items():
        module.gates = originals[name]
    result["accuracy_with_mean_gates"] = round(accuracy_of(fixed, test.labels), 2)
    for name, gates in test_gates.items():
        labels = test.labels
        class_means = torch.stack([gates[labels == c].mean(0) for c in labels.unique()])
        result["layers"][name] = {
            "gate_mean": round(float(gates.mean()), 4),
            # Spread across samples relative to the mean gate: near 0 means SPAMFM is a fixed rescaling.
            "gate_relative_spread": round(float(gates.std(0).mean() / gates.mean().abs().clamp_min(1e-8)), 4),
            "between_class_share": round(float(class_means.var(0).mean() / gates.var(0).mean().clamp_min(1e-12)), 4),
        }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
