#!/usr/bin/env python3
"""Measures a learned hit judge for the semantic cache: gradient-boosted trees over pair features.

Input: the CSV that `dev.weir.bench.CacheBenchmark` writes from qqp-dev.jsonl when given a fourth
argument (one row per pair: label, then the features of `dev.weir.bench.PairFeatures`). Output:
k-fold held-out precision/recall (the decision threshold chosen inside each training fold, never
on the fold it is scored on) and a trade-off table of held-out scores. The trees did no better
than the shipped rules plus the second model's agreement (docs/benchmarks.md), so nothing is
exported; the script stays as the record of the measurement and to try new features.

Usage: python3 train.py features.csv [--target-precision 0.95] [--min-cosine 0.8] [--exclude f1,f2]
GATES=same_numbers,... (environment) sets the rules a pair must pass before the trees are asked.
Needs numpy and scikit-learn.
"""
import argparse
import csv
import os

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold

# Rules a candidate must pass before the judge is asked (they also keep the adversarial pairs out):
# same numbers, same negations, same names, shared words in the same order.
GATES = [g for g in os.environ.get("GATES", "same_numbers,same_negations,same_names,same_order").split(",") if g]


def load(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    header = rows[0]
    data = np.array([[float(x) for x in r] for r in rows[1:]])
    return header[1:], data[:, 0].astype(int), data[:, 1:]


def gate(names, x, min_cosine):
    ok = x[:, names.index("cos_minilm")] >= min_cosine
    for g in GATES:
        ok &= x[:, names.index(g)] == 1
    return ok


def model(seed):
    return GradientBoostingClassifier(n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8,
                                      min_samples_leaf=20, random_state=seed)


def pick_threshold(scores, labels, passed, positives, target):
    """The lowest score threshold whose precision on these pairs reaches the target (None if none)."""
    best = None
    for t in np.unique(scores[passed])[::-1]:
        hit = passed & (scores >= t)
        if hit.sum() >= 10 and labels[hit].mean() >= target:
            best = t
    return best


def oof_scores(names, y, x, passed, seed, folds):
    scores = np.zeros(len(y))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        tr = train[passed[train]]
        m = model(seed).fit(x[tr], y[tr])
        scores[test] = m.predict_proba(x[test])[:, 1]
    return scores


def main():
    p = argparse.ArgumentParser()
    p.add_argument("features")
    p.add_argument("--target-precision", type=float, default=0.95)
    p.add_argument("--min-cosine", type=float, default=0.80)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--exclude", default="", help="comma-separated features left out")
    a = p.parse_args()
    names, y, x = load(a.features)
    keep = [i for i, n in enumerate(names) if n not in a.exclude.split(",")]
    passed = gate(names, x, a.min_cosine)
    xs = x[:, keep]
    used = [names[i] for i in keep]
    positives = y.sum()
    print(f"{len(y)} pairs, {positives} duplicates; {passed.sum()} pass cosine >= {a.min_cosine} and the rules")
    # Held-out: outer folds; the threshold is chosen on the outer training part's own inner held-out scores.
    for seed in (1, 2, 3):
        hits = right = 0
        for train, test in StratifiedKFold(a.folds, shuffle=True, random_state=seed).split(xs, y):
            inner = oof_scores(used, y[train], xs[train], passed[train], seed, 3)
            t = pick_threshold(inner, y[train], passed[train], y[train].sum(), a.target_precision)
            tr = train[passed[train]]
            m = model(seed).fit(xs[tr], y[tr])
            s = m.predict_proba(xs[test])[:, 1]
            hit = passed[test] & (s >= (t if t is not None else 2))
            hits += hit.sum()
            right += y[test][hit].sum()
        print(f"seed {seed}: held-out precision {right / max(hits, 1):.3f} recall {right / positives:.3f} "
              f"({hits} hits)")
    # The trade-off table: held-out scores, one threshold swept over all of them.
    scores = oof_scores(used, y, xs, passed, 1, a.folds)
    print("| judge threshold | hits | precision | recall |")
    print("| --- | --- | --- | --- |")
    for t in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        hit = passed & (scores >= t)
        print(f"| {t:.2f} | {hit.sum()} | {y[hit].mean() if hit.any() else 0:.3f} | {y[hit].sum() / positives:.3f} |")

if __name__ == "__main__":
    main()
