"""A WordPiece vocabulary (BERT's vocab.txt) built from training texts, for the small BERT that the
fine-tuning parity test trains from scratch (no pretrained BERT exists offline, see ASSETS.md).

usage: wordpiece_vocab.py OUT_VOCAB_TXT TEXTS.jsonl [--words N] [--suffixes N]

Entries, in this order: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4; every character seen at least
twice, alone and as a ##continuation (so nearly every word splits into known pieces instead of
[UNK], as in BERT's own vocabulary); the N most frequent lower-cased words (BasicTokenizer's
words: lower-cased, accents stripped, split at punctuation); the most frequent 2- to 4-character
word endings as ## pieces. Ties are broken alphabetically so the file depends on the texts only.
"""
import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wordpiece_ref import SPECIALS, BasicTokenizer  # noqa: E402


def _by_count(counter, n):
    return [w for w, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def build_vocab(texts, words=3000, suffixes=500, min_char_count=2):
    basic = BasicTokenizer(do_lower_case=True)
    counts = collections.Counter()
    for t in texts:
        counts.update(basic.tokenize(t))
    chars = collections.Counter()
    for w, n in counts.items():
        for c in w:
            chars[c] += n
    vocab = list(SPECIALS)
    seen = set(vocab)

    def add(tok):
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)

    kept_chars = sorted(c for c, n in chars.items() if n >= min_char_count)
    for c in kept_chars:
        add(c)
    for c in kept_chars:
        add("##" + c)
    for w in _by_count(counts, words):
        add(w)
    ends = collections.Counter()
    for w, n in counts.items():
        for k in (2, 3, 4):
            if len(w) > k:
                ends[w[-k:]] += n
    for s in _by_count(ends, suffixes):
        add("##" + s)
    return vocab


def write_vocab(path, vocab):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("texts", help="JSONL with a text field per line")
    ap.add_argument("--words", type=int, default=3000)
    ap.add_argument("--suffixes", type=int, default=500)
    a = ap.parse_args()
    with open(a.texts, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    write_vocab(a.out, build_vocab(texts, a.words, a.suffixes))


if __name__ == "__main__":
    main()
