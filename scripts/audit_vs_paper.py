#!/usr/bin/env python3
"""Dev-only: the table of docs/studies/audit-vs-paper.md (and the short one in docs/results.md) from the
committed audit folders, so every number there comes from a file anyone can regenerate.

    python3 scripts/audit_vs_paper.py [--short]

Each column reads FOLDER/results/results.json, or FOLDER/interim/results/results.json for an
audit still running (the column then says how many images it covers). The paper's column is
typed from its text (section 4.1, Table 1, Figures 5, 6 and S3); its figures give no numbers in
the text, so those rows state what the figures show.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = [
    ("fast, all 5,000 held-out", "experiments/audit-r20-holdout-fast"),
    ("fast, 1,000 held-out", "experiments/audit-replicates-holdout1000/r20-seed0"),
    ("fast, lossless test", "experiments/audit-r20-lossless-fast-pooled"),
    ("fast, CIFAR-10-C sample", "experiments/audit-r20-cifar10c-fast"),
    ("hybrid, 500 held-out", "experiments/audit-r20-hybrid-500"),
    ("gradient, the same 500", "experiments/robust-resnet20/audit-standard-gradient"),
    ("gradient, all held-out", "experiments/audit-r20-holdout-gradient"),
    ("gradient, CIFAR-10-C sample", "experiments/audit-r20-cifar10c-gradient"),
]
PAPER = {
    "images": "10,000 test images",
    "full": "92.23 ± 0.35",
    "bs": "92.48",
    "random": "9.99 ± 0.07",
    "drop": "-0.035 (0.107)",
    "size": "grows with τ (Figure 6)",
    "increase": "> 0 at every τ, 95% CI above 0 (Figure 5a; 5b on CIFAR-10-C)",
    "confidence": "lower for misclassified at every τ (Figure S3)",
}
THRESHOLDS = [0.5, 0.9, 0.99]


def load(folder):
    """The audit's results (or its interim snapshot's), whether interim, and how many images it selected."""
    for sub, interim in (("results", False), ("interim/results", True)):
        path = os.path.join(ROOT, folder, sub, "results.json")
        if os.path.exists(path):
            with open(path) as f:
                results = json.load(f)
            with open(os.path.join(ROOT, folder, "selection.json")) as f:
                selected = len(json.load(f)["positions"])
            return results, interim, selected
    return None, False, 0


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}"


def column(results, interim, selected):
    rows = {r["kind"]: r for r in results["subsets"]["rows"]}
    full, bs, rnd = rows["full images"], rows["5% backward selection"], rows["5% random"]
    n = results["images"]
    cells = {
        "images": f"{n}" + (f" of {selected} (interim)" if interim else ""),
        "full": pct(full["accuracy"]),
        "bs": pct(bs["accuracy"]),
        "random": pct(rnd["accuracy"]),
        "drop": f"{bs['confidenceDrop']:.3f} ({bs['confidenceDropStd']:.3f})",
    }
    sizes = {p["threshold"]: p for p in results["sisSize"]}
    cells["size"] = ", ".join(
        f"{sizes[t]['mean']:.1f}" if sizes.get(t, {}).get("mean") is not None else "-" for t in THRESHOLDS
    )
    groups = {p["threshold"]: p for p in results["correctIncorrect"]}
    parts = []
    for t in THRESHOLDS:
        g = groups.get(t)
        if not g or g.get("percentIncrease") is None:
            parts.append("-")
            continue
        ci = g.get("percentIncreaseInterval")
        if g.get("percentIncreaseUnbounded"):
            interval = " [unbounded]"
        else:
            interval = f" [{ci['lower']:+.0f}, {ci['upper']:+.0f}]" if ci and ci.get("lower") is not None else ""
        parts.append(f"{g['percentIncrease']:+.0f}%{interval} (n={g['incorrect']})")
    # Results before statistics version 2 divided Welch's interval by the misclassified mean.
    old = (results.get("statistics") or 1) < 2
    cells["increase"] = "; ".join(parts) + (" (old interval: Welch / mean)" if old else "")
    g = groups.get(0.5) or {}
    c, i = g.get("correctConfidence"), g.get("incorrectConfidence")
    cells["confidence"] = f"{pct(c and c['estimate'])} vs {pct(i and i['estimate'])}"
    return cells


LABELS = [
    ("images", "images audited (fast: all; hybrid, gradient: predicted with confidence ≥ 0.5)"),
    ("full", "accuracy on the full images (%)"),
    ("bs", "accuracy on their 5% BS subsets (%)"),
    ("random", "accuracy on 5% random subsets (%)"),
    ("drop", "confidence drop, full - 5% BS: mean (std)"),
    ("size", "mean SIS size at τ = 0.5, 0.9, 0.99 (pixels of 1,024)"),
    ("increase", "mean SIS size, correct over misclassified, at τ = 0.5; 0.9; 0.99 (95% CI; misclassified images)"),
    ("confidence", "mean confidence at τ = 0.5, correct vs misclassified (%)"),
]


def main():
    short = "--short" in sys.argv
    columns = []
    for name, folder in COLUMNS:
        results, interim, selected = load(folder)
        if results is not None:
            columns.append((name, column(results, interim, selected)))
    keys = ["images", "full", "bs", "random", "drop", "size", "increase"] if short else [k for k, _ in LABELS]
    print("| | paper (ResNet20, exact) | " + " | ".join(n for n, _ in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for key, label in LABELS:
        if key in keys:
            print(f"| {label} | {PAPER[key]} | " + " | ".join(c[key] for _, c in columns) + " |")


if __name__ == "__main__":
    main()
