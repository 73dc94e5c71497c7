"""``zoo score``: anomaly scores and decisions per input from a checkpoint of any model with ``anomaly_score(x)``.

    zoo score --ckpt runs/autoencoder --data folder --data.root suspects --out scores.csv
    zoo score --ckpt runs/autoencoder --data digits --normal-class 3 --out scores.csv    # AUROC, AUPR, F1, confusion
    zoo score --ckpt runs/autoencoder --data digits --maps maps/ --top 8                 # anomaly-map sheets

The decision threshold is the one ``zoo fit`` stored in the checkpoint (:mod:`zoo.anomaly`),
unless ``--threshold`` or ``--threshold-quantile`` chooses another.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import torch

from zoo import anomaly, interfaces, registry
from zoo.checkpoints import load_with
from zoo.commands.common import build_datamodule, data_parser, iterate_split, run_over_split, split_data_args
from zoo.errors import ZooError

REFUSAL = ("`zoo score` needs a model with anomaly_score(); {checkpoint} holds {name}, a {task} model without it; "
           "use a checkpoint of one of: {models}")


def command_score(argv: Sequence[str]) -> dict:
    own, data_args = split_data_args(argv)
    parser = data_parser("zoo score", "Anomaly scores of a dataset (higher = more anomalous), and decisions.",
                          "scores.csv: index, file, label, score, normalized_score (threshold = 0.5), is_anomaly")
    parser.add_argument("--normal-class", nargs="+", default=None,
                        help="with labelled data: the label(s) of the normal class(es); reports AUROC, "
                             "AUPR, F1 at the threshold and the confusion counts")
    parser.add_argument("--threshold", type=float, default=None,
                        help="decide with this score threshold instead of the one stored in the checkpoint")
    parser.add_argument("--threshold-quantile", type=float, default=None,
                        help="decide with this quantile (0-1) of the normal validation scores stored at fit time")
    parser.add_argument("--maps", default=None, help="folder for anomaly-map sheets (reconstruction models)")
    parser.add_argument("--top", type=int, default=8,
                        help="inputs per map sheet: the N most anomalous and the N most normal")
    parser.add_argument("--map-sigma", type=float, default=1.0,
                        help="standard deviation in pixels of the Gaussian smoothing the maps (0: none)")
    args = parser.parse_args(own)
    if not args.out.lower().endswith(".csv"):
        raise ZooError(f"--out {args.out}: expected a .csv file")
    if args.top < 1:
        raise ZooError(f"--top must be at least 1, got {args.top}")
    model = load_with(args.ckpt, interfaces.AnomalyScoring, REFUSAL)
    if args.maps is not None and not isinstance(model, interfaces.Reconstruction):
        name = registry.display_name(type(model), "model")
        raise ZooError(f"--maps needs a model with encode() and decode() to draw reconstruction errors; "
                       f"{name} has none")
    state = anomaly.read_threshold(args.ckpt)
    threshold, source = _decision_threshold(state, args)
    scores, labels, files = run_over_split(model, args, data_args, model.anomaly_score)
    scores = scores.double()
    normalized = is_anomaly = None
    if threshold is not None:
        low, high = (state["min"], state["max"]) if state else (float(scores.min()), float(scores.max()))
        normalized = anomaly.normalize(scores, threshold, low, high)
        is_anomaly = scores > threshold
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "file", "label", "score", "normalized_score", "is_anomaly"])
        for index, (score, label) in enumerate(zip(scores.tolist(), labels.tolist())):
            writer.writerow([index, files[index] if files else "", label, f"{score:.6g}",
                             f"{float(normalized[index]):.6g}" if normalized is not None else "",
                             int(is_anomaly[index]) if is_anomaly is not None else ""])
    print(f"wrote {len(scores)} anomaly scores of the {args.split} split to {out}")
    if threshold is None:
        print("no threshold: the checkpoint holds none (fitted without validation or by an older zoo); "
              "pass --threshold T to decide")
    else:
        print(f"threshold {threshold:.6g} ({source}): {int(is_anomaly.sum())} of {len(scores)} flagged as anomalies")
    results: dict = {"threshold": threshold, "num_anomalies": int(is_anomaly.sum()) if is_anomaly is not None else None}
    if args.normal_class is not None:
        results.update(_labelled_metrics(scores, labels, is_anomaly, args))
    if args.maps is not None:
        results["maps"] = _write_maps(model, args, data_args, scores, labels, files)
    return results


def _decision_threshold(state: dict | None, args) -> tuple[float | None, str]:
    """The threshold a decision uses, and where it came from, for the printed line."""
    if args.threshold is not None and args.threshold_quantile is not None:
        raise ZooError("give --threshold or --threshold-quantile, not both")
    if args.threshold is not None:
        return args.threshold, "given by --threshold"
    if args.threshold_quantile is not None:
        if state is None:
            raise ZooError(f"--threshold-quantile needs the validation scores a `zoo fit` stores; {args.ckpt} has "
                           "none (fit with validation, or pass --threshold T)")
        quantile = anomaly.threshold_at_quantile(state, args.threshold_quantile)
        return quantile, f"the {args.threshold_quantile} quantile of the normal validation scores"
    if state is None:
        return None, ""
    if state["method"] == "f1":
        return state["threshold"], f"stored in the checkpoint: F1-optimal on validation, F1 {state['f1']:.3f}"
    return state["threshold"], f"stored in the checkpoint: the {state['quantile']} quantile of the validation scores"


def _normal_ids(names: list[str], labels: torch.Tensor, args) -> list[int]:
    ids = []
    for name in names:
        try:
            ids.append(int(name))
        except ValueError:
            raise ZooError(f"--normal-class {name}: give the class index (a label of the {args.split} split, "
                           f"found: {sorted(set(labels.tolist()))})") from None
    return ids


def _labelled_metrics(scores: torch.Tensor, labels: torch.Tensor, is_anomaly: torch.Tensor | None, args) -> dict:
    """AUROC, AUPR, F1 at the threshold and the confusion counts, with anomalies as the positive class."""
    from torchmetrics.functional.classification import (binary_auroc, binary_average_precision,
                                                        binary_confusion_matrix, binary_f1_score)

    normal_ids = _normal_ids(args.normal_class, labels, args)
    anomalous = (~torch.isin(labels, torch.tensor(normal_ids, dtype=labels.dtype))).long()
    if anomalous.min() == anomalous.max():
        raise ZooError(f"--normal-class {' '.join(args.normal_class)}: the {args.split} split needs both those "
                       f"classes and others to measure (labels found: {sorted(set(labels.tolist()))})")
    unit = anomaly.order_preserving_unit(scores)
    metrics = {"auroc": float(binary_auroc(unit, anomalous)), "aupr": float(binary_average_precision(unit, anomalous))}
    normal = ", ".join(args.normal_class)
    print(f"AUROC (class {normal} normal, all others anomalous): {metrics['auroc']:.4f}")
    print(f"AUPR (anomalies positive, {float(anomalous.double().mean()):.1%} of inputs): {metrics['aupr']:.4f}")
    if is_anomaly is not None:
        predicted = is_anomaly.long()
        (tn, fp), (fn, tp) = binary_confusion_matrix(predicted, anomalous).tolist()
        metrics.update(f1=float(binary_f1_score(predicted, anomalous)), tp=tp, fp=fp, tn=tn, fn=fn)
        print(f"F1 at the threshold: {metrics['f1']:.4f}  (true positives {tp}, false positives {fp}, "
              f"true negatives {tn}, false negatives {fn})")
    best_threshold, best_f1 = anomaly.f1_optimal_threshold(scores, anomalous.bool())
    metrics.update(best_threshold=best_threshold, best_f1=best_f1)
    print(f"best F1 on this split: {best_f1:.4f} at threshold {best_threshold:.6g} (--threshold to use it)")
    return metrics


def _write_maps(model, args, data_args: list[str], scores: torch.Tensor, labels: torch.Tensor,
                files: list[str] | None) -> list[Path]:
    """Sheets of the ``--top`` most anomalous and most normal inputs: input | reconstruction | error map."""
    order = torch.argsort(scores, descending=True)
    top = min(args.top, len(scores))
    chosen = {"most_anomalous": order[:top].tolist(), "most_normal": order.flip(0)[:top].tolist()}
    wanted = set(chosen["most_anomalous"]) | set(chosen["most_normal"])
    # A second pass keeps only the chosen images in memory, whatever the size of the split.
    datamodule = build_datamodule(["--data", args.data, *data_args])
    images, seen = {}, 0
    for batch in iterate_split(datamodule, args.split):
        for offset in range(len(batch[0])):
            if seen + offset in wanted:
                images[seen + offset] = batch[0][offset]
        seen += len(batch[0])
    device = next(model.parameters()).device
    sheets = {}
    for name, indices in chosen.items():
        stacked = torch.stack([images[index] for index in indices]).to(device)
        sheets[name] = (indices, stacked, *anomaly.error_maps(model, stacked, args.map_sigma))
    vmax = max(float(errors.max()) for *_, errors in sheets.values()) or 1.0
    written = []
    for name, (indices, stacked, reconstructions, errors) in sheets.items():
        captions = [f"#{index} label {int(labels[index])}\nscore {float(scores[index]):.4g}"
                    + (f"\n{Path(files[index]).name}" if files else "") for index in indices]
        path = Path(args.maps) / f"{name}.png"
        title = f"{name.replace('_', ' ')} {len(indices)} of {len(scores)} ({args.split} split)"
        anomaly.write_map_sheet(path, title, stacked.cpu(), reconstructions.cpu(), errors.cpu(), captions, vmax)
        written.append(path)
    print(f"wrote anomaly maps of the {top} most anomalous and {top} most normal inputs to {args.maps}/")
    return written
