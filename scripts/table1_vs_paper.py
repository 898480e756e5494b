#!/usr/bin/env python3
"""Dev-only: Table 1 of docs/results.md and experiments/table1/README.md beside the paper's, from the
committed `table1` outputs, so every number there comes from a file anyone can regenerate.

    python3 scripts/table1_vs_paper.py

Reads the per-model cells of experiments/table1/table-holdout/, table-test-lossless/ (written by
train.sh once its models exist; before that the original model's tables original-model-*/) and
sample500/table/ (sample500.sh). A cell whose model is not trained yet reads "not yet". The
paper's column is its Table 1 (ResNet20, CIFAR-10 test set, exact BackSelect) and section 4.1's
transfer figure (ResNet18 subsets evaluated by a ResNet18 replicate).
"""
import json
import os
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "experiments", "table1")

# Columns: (heading, table folders tried in order, benchmark label, the BS subsets' label).
COLUMNS = [
    ("held-out, 5,000 (gradient subsets)", ["table-holdout", "original-model-holdout"], "held-out", "5% BS (gradient)"),
    (
        "lossless test, 1,120 (gradient subsets)",
        ["table-test-lossless", "original-model-test-lossless"],
        "lossless test",
        "5% BS (gradient)",
    ),
    ("500 held-out, gradient subsets", ["sample500/table"], "sample of 500", "5% BS (gradient)"),
    ("the same 500, hybrid (exact-like) subsets", ["sample500/table"], "sample of 500", "5% BS (hybrid)"),
]

# Rows: (trained on, evaluated on, the paper, the models whose mean it is, the data kind).
ROWS = [
    ("full images", "full images", "92.23 ± 0.35", ["original", "replicate"], "full"),
    ("full images", "5% BS subsets (the original model's)", "92.48", ["original"], "bs"),
    ("full images", "5% random subsets", "9.99 ± 0.07", ["original", "replicate"], "5% random"),
    ("5% BS subsets", "5% BS subsets", "92.50 ± 0.02", ["bs", "bs seed 1"], "bs"),
    ("5% random subsets", "5% random subsets", "50.05 ± 0.18", ["random"], "5% random"),
    ("full images (a replicate)", "the original model's 5% BS subsets (transfer)", "27.6 (ResNet18)", ["replicate"], "bs"),
]
ROLES = {
    "original": lambda m: m == "default",
    "replicate": lambda m: m.endswith("r20-full-seed1/model.safetensors"),
    "bs": lambda m: m.endswith("r20-backselect/model.safetensors"),
    "bs seed 1": lambda m: m.endswith("r20-backselect-seed1/model.safetensors"),
    "random": lambda m: m.endswith("r20-random/model.safetensors"),
}


def cells(folders):
    """The first existing table's cells: {(model, data label): accuracy}."""
    for folder in folders:
        path = os.path.join(HERE, folder, "table.json")
        if os.path.exists(path):
            with open(path) as f:
                table = json.load(f)
            return {(c["model"], c["data"]): c["accuracy"] for c in table["cells"]}
    return {}


def cell(found, roles, data):
    values = {}
    for (model, label), accuracy in found.items():
        if label == data:
            for role in roles:
                if ROLES[role](model):
                    values[role] = accuracy
    if not values:
        return "not yet"
    xs = [100 * values[r] for r in roles if r in values]
    text = f"{statistics.mean(xs):.2f}" + (f" ± {statistics.stdev(xs):.2f}" if len(xs) > 1 else "")
    missing = [r for r in roles if r not in values]
    return text + (f" ({len(xs)} of {len(roles)} models)" if missing else "")


def main():
    tables = [(heading, cells(folders), bench, bs) for heading, folders, bench, bs in COLUMNS]
    print("| trained on | evaluated on | paper (CIFAR-10 test, exact) | " + " | ".join(t[0] for t in tables) + " |")
    print("|---|---|---|" + "---|" * len(tables))
    for trained, evaluated, paper, roles, kind in ROWS:
        row = []
        for _, found, bench, bs in tables:
            row.append(cell(found, roles, f"{bs if kind == 'bs' else kind}@{bench}"))
        print(f"| {trained} | {evaluated} | {paper} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
