#!/usr/bin/env python3
"""Compares two overinterp run folders (or two `eval --json` outputs) made on two devices, for
scripts/gpu-check.sh. Pure Python (no numpy): it reads the .npy arrays inside the shard .npz files.

  gpu_check_compare.py eval A.json B.json
  gpu_check_compare.py run A_RUN B_RUN [--value-tolerance 1e-4] [--tie 1e-5]

Prints one line per check and exits 1 when one fails. Orders are compared step by step up to
the first step where the two runs' scores are within --tie of each other (a float-noise tie may
then go either way); values (probabilities after each step) must agree within the tolerance at
every step before that."""
import ast
import glob
import json
import struct
import sys
import zipfile


def read_npy(data):
    assert data[:6] == b"\x93NUMPY", "not an .npy"
    # Version 1 stores the header length in 2 bytes, later versions in 4.
    at = 10 if data[6] == 1 else 12
    start = at + struct.unpack("<H" if at == 10 else "<I", data[8:at])[0]
    header = ast.literal_eval(data[at:start].decode("latin1"))
    fmt = {"<i8": "q", "<f4": "f", "<u2": "H", "<i4": "i", "<f8": "d"}[header["descr"]]
    shape = header["shape"]
    count = 1
    for s in shape:
        count *= s
    values = struct.unpack("<%d%s" % (count, fmt), data[start:start + count * struct.calcsize(fmt)])
    if len(shape) == 2:
        return [list(values[i * shape[1]:(i + 1) * shape[1]]) for i in range(shape[0])]
    return list(values)


def records(run):
    out = {}
    paths = sorted(glob.glob(run + "/shard-*.npz"))
    if not paths:
        sys.exit("%s: no shard-*.npz files (not a finished backselect run folder)" % run)
    for path in paths:
        z = zipfile.ZipFile(path)
        arrays = {name[:-4]: read_npy(z.read(name)) for name in z.namelist()}
        for i, position in enumerate(arrays["position"]):
            out[position] = {k: arrays[k][i] for k in ("order", "values", "scores", "predicted", "confidence")}
    return out


def compare_runs(a, b, tolerance, tie):
    ra, rb = records(a), records(b)
    common = sorted(set(ra) & set(rb))
    ok = len(common) > 0 and len(common) == len(ra) == len(rb)
    print(("PASS" if ok else "FAIL") + "  images: %d and %d, %d in both" % (len(ra), len(rb), len(common)))
    worst_value, same_class, untied, notes = 0.0, 0, 0, []
    for p in common:
        x, y = ra[p], rb[p]
        same_class += x["predicted"] == y["predicted"]
        first = None
        for k, (oa, ob) in enumerate(zip(x["order"], y["order"])):
            if oa != ob:
                first = k
                break
            worst_value = max(worst_value, abs(x["values"][k] - y["values"][k]))
        if first is None:
            notes.append("image %d: same order" % p)
            continue
        # Where the orders part, both picks must have scored the same within the tie width (a
        # float-noise tie broken differently); after it the two masks differ, so stop there.
        gap = abs(x["scores"][first] - y["scores"][first])
        tied = gap < tie
        untied += not tied
        notes.append("image %d: orders part at step %d, scores %.3e apart (%s)" % (p, first, gap, "a tie" if tied else "NOT a tie"))
    for n in notes:
        print("      " + n)
    checks = [
        (same_class == len(common), "predicted class the same on %d of %d images" % (same_class, len(common))),
        (worst_value <= tolerance,
         "largest probability difference before the orders part %.2e (tolerance %.0e)" % (worst_value, tolerance)),
        (untied == 0, "orders the same up to float-noise ties (scores within %.0e): %d image(s) part elsewhere" % (tie, untied)),
    ]
    for good, text in checks:
        print(("PASS" if good else "FAIL") + "  " + text)
        ok = ok and good
    return ok


def compare_eval(a, b):
    ma, mb = json.load(open(a))["models"][0], json.load(open(b))["models"][0]
    checks = [
        (ma["confusion"] == mb["confusion"], "confusion matrices identical (accuracy %.4f and %.4f)" % (ma["accuracy"], mb["accuracy"])),
        (abs(ma["mean_confidence"] - mb["mean_confidence"]) <= 1e-5,
         "mean confidence %.7f and %.7f (within 1e-5)" % (ma["mean_confidence"], mb["mean_confidence"])),
    ]
    for good, text in checks:
        print(("PASS" if good else "FAIL") + "  " + text)
    return all(g for g, _ in checks)


def main(argv):
    if len(argv) >= 3 and argv[0] == "eval":
        return 0 if compare_eval(argv[1], argv[2]) else 1
    if len(argv) >= 3 and argv[0] == "run":
        tolerance, tie = 1e-4, 1e-5
        rest = argv[3:]
        for flag, value in zip(rest[::2], rest[1::2]):
            if flag == "--value-tolerance":
                tolerance = float(value)
            elif flag == "--tie":
                tie = float(value)
        return 0 if compare_runs(argv[1], argv[2], tolerance, tie) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
