"""Reference data for ark's BERT and DistilBERT (tests/models/test_bert.cpp, test_distilbert.cpp,
test_hf_folder.cpp): the models written in plain PyTorch with Hugging Face's structure and
parameter names (transformers 4.x modeling_bert.py / modeling_distilbert.py, eager attention),
seeded random weights, saved as Hugging Face folders.

    /usr/bin/python3 tools/reference/text_encoders.py OUT.safetensors CASE
CASE: bert_small, distilbert_small (tiny configs, every loading variant) or bert_base,
distilbert_base (real sizes: 12 x 768 / 6 x 768, vocab 30522; one folder each).

Written beside OUT (STEM = OUT without ".safetensors"), each a folder with config.json:
  STEM.cls            the sequence-classification model, model.safetensors
  bert_small only:
  STEM.cls_sharded    the same weights in 3 safetensors shards + model.safetensors.index.json
  STEM.cls_bin        pytorch_model.bin (torch.save of the state dict, with the position_ids
                      buffer transformers < 4.31 saved)
  STEM.cls_bin_sharded  2 .bin shards + pytorch_model.bin.index.json
  STEM.cls_f16, STEM.cls_bf16   the weights in float16 / bfloat16 (torch_dtype set)
  STEM.base           the BertModel alone (keys without "bert."), architectures ["BertModel"]
  STEM.mlm            BertForMaskedLM (hidden_act gelu_new) without the tied decoder weight
  STEM.mlm_bin        the same as pytorch_model.bin with the tied keys and TF-era
                      LayerNorm.gamma/beta names
  distilbert_small: STEM.cls, STEM.base, STEM.mlm (no vocab_projector.weight)
OUT.safetensors (written last) holds the inputs and the outputs:
  input_ids, attention_mask (padding: rows of 16, 11 and 5 tokens), token_type_ids (BERT)
  cls.hidden.<i> (embeddings then every layer), cls.last_hidden_state, cls.pooler_output (BERT),
  cls.logits (eval mode); cls.labels, cls.loss (single-label cross-entropy) and grad.<param> for
  every parameter (eval mode: dropout off); cls.labels_multi / cls.loss_multi /
  grad_multi.<classifier weight> (multi-label BCE), cls.labels_reg / cls.loss_reg /
  grad_reg.<classifier weight> (regression MSE);
  nomask.last_hidden_state (no mask, no token types), pos.position_ids / pos.last_hidden_state
  (BERT base model with explicit positions); f16.logits / bf16.logits (the weights rounded to
  that dtype); mlm.labels (-100 but a few), mlm.logits, mlm.loss.
"""
import math
import os
import sys
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_common  # noqa: E402
import safetensors_py  # noqa: E402

torch.set_num_threads(1)


def act_fn(name):
    if name == "gelu":
        return F.gelu
    if name == "gelu_new":  # NewGELUActivation
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "relu":
        return F.relu
    raise ValueError(name)


def extended_mask(mask, dtype):
    m = mask[:, None, None, :].to(dtype)
    return (1.0 - m) * torch.finfo(dtype).min


# ---------------------------------------------------------------- BERT (modeling_bert.py)

class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(c.max_position_embeddings).expand((1, -1)), persistent=False)

    def forward(self, input_ids, token_type_ids=None, position_ids=None):
        L = input_ids.size(1)
        if position_ids is None:
            position_ids = self.position_ids[:, :L]
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        e = e + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(e))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h = c.num_attention_heads
        self.d = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def split(self, x):
        return x.view(x.size(0), x.size(1), self.h, self.d).permute(0, 2, 1, 3)

    def forward(self, x, mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d)
        if mask is not None:
            scores = scores + mask
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.size(0), x.size(1), -1)


class DenseNorm(nn.Module):  # BertSelfOutput / BertOutput
    def __init__(self, c, n_in):
        super().__init__()
        self.dense = nn.Linear(n_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = DenseNorm(c, c.hidden_size)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = act_fn(c.hidden_act)

    def forward(self, x):
        return self.act(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = DenseNorm(c, c.intermediate_size)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c.num_hidden_layers)])


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c, add_pooling_layer=True):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c) if add_pooling_layer else None

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None):
        h = self.embeddings(input_ids, token_type_ids, position_ids)
        mask = None if attention_mask is None else extended_mask(attention_mask, h.dtype)
        hidden = [h]
        for layer in self.encoder.layer:
            h = layer(h, mask)
            hidden.append(h)
        pooled = self.pooler(h) if self.pooler is not None else None
        return h, pooled, hidden


def classification_loss(logits, labels, problem_type, num_labels):
    if problem_type is None:
        if num_labels == 1:
            problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            problem_type = "single_label_classification"
        else:
            problem_type = "multi_label_classification"
    if problem_type == "regression":
        return F.mse_loss(logits.squeeze(), labels.squeeze()) if num_labels == 1 else F.mse_loss(logits, labels)
    if problem_type == "single_label_classification":
        return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
    return F.binary_cross_entropy_with_logits(logits, labels)


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.classifier = nn.Linear(c.hidden_size, c.num_labels)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, problem_type=None):
        h, pooled, hidden = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else classification_loss(logits, labels, problem_type, self.c.num_labels)
        return loss, logits, h, pooled, hidden


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.act = act_fn(c.hidden_act)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x):
        return self.LayerNorm(self.act(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = BertPredictionHeadTransform(c)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, x):
        return self.decoder(self.transform(x))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = BertLMPredictionHead(c)


class BertForMaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.bert = BertModel(c, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(c)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight  # tie_weights

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        h, _, _ = self.bert(input_ids, attention_mask, token_type_ids)
        logits = self.cls.predictions(h)
        loss = F.cross_entropy(logits.view(-1, self.c.vocab_size), labels.view(-1))
        return loss, logits


# ---------------------------------------------------------------- DistilBERT (modeling_distilbert.py)

class DEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.dim, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.dim)
        self.LayerNorm = nn.LayerNorm(c.dim, eps=1e-12)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, input_ids):
        L = input_ids.size(1)
        pos = torch.arange(L, dtype=torch.long).unsqueeze(0).expand_as(input_ids)
        return self.dropout(self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(pos)))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_heads, self.dim = c.n_heads, c.dim
        self.dropout = nn.Dropout(c.attention_dropout)
        self.q_lin = nn.Linear(c.dim, c.dim)
        self.k_lin = nn.Linear(c.dim, c.dim)
        self.v_lin = nn.Linear(c.dim, c.dim)
        self.out_lin = nn.Linear(c.dim, c.dim)

    def forward(self, x, mask):
        bs, L, _ = x.shape
        dh = self.dim // self.n_heads

        def shape(t):
            return t.view(bs, -1, self.n_heads, dh).transpose(1, 2)

        q, k, v = shape(self.q_lin(x)), shape(self.k_lin(x)), shape(self.v_lin(x))
        q = q / math.sqrt(dh)
        scores = torch.matmul(q, k.transpose(2, 3))
        if mask is not None:
            m = (mask == 0).view(bs, 1, 1, L).expand_as(scores)
            scores = scores.masked_fill(m, torch.tensor(torch.finfo(scores.dtype).min))
        w = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(w, v).transpose(1, 2).contiguous().view(bs, -1, self.n_heads * dh)
        return self.out_lin(ctx)


class FFN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dropout = nn.Dropout(c.dropout)
        self.lin1 = nn.Linear(c.dim, c.hidden_dim)
        self.lin2 = nn.Linear(c.hidden_dim, c.dim)
        self.act = act_fn(c.activation)

    def forward(self, x):
        return self.dropout(self.lin2(self.act(self.lin1(x))))


class TransformerBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = MultiHeadSelfAttention(c)
        self.sa_layer_norm = nn.LayerNorm(c.dim, eps=1e-12)
        self.ffn = FFN(c)
        self.output_layer_norm = nn.LayerNorm(c.dim, eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(sa) + sa)


class Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([TransformerBlock(c) for _ in range(c.n_layers)])


class DistilBertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = DEmbeddings(c)
        self.transformer = Transformer(c)

    def forward(self, input_ids, attention_mask=None):
        h = self.embeddings(input_ids)
        hidden = [h]
        for layer in self.transformer.layer:
            h = layer(h, attention_mask)
            hidden.append(h)
        return h, hidden


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.distilbert = DistilBertModel(c)
        self.pre_classifier = nn.Linear(c.dim, c.dim)
        self.classifier = nn.Linear(c.dim, c.num_labels)
        self.dropout = nn.Dropout(c.seq_classif_dropout)

    def forward(self, input_ids, attention_mask=None, labels=None, problem_type=None):
        h, hidden = self.distilbert(input_ids, attention_mask)
        pooled = self.dropout(F.relu(self.pre_classifier(h[:, 0])))
        logits = self.classifier(pooled)
        loss = None if labels is None else classification_loss(logits, labels, problem_type, self.c.num_labels)
        return loss, logits, h, None, hidden


class DistilBertForMaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.act = act_fn(c.activation)
        self.distilbert = DistilBertModel(c)
        self.vocab_transform = nn.Linear(c.dim, c.dim)
        self.vocab_layer_norm = nn.LayerNorm(c.dim, eps=1e-12)
        self.vocab_projector = nn.Linear(c.dim, c.vocab_size)
        self.vocab_projector.weight = self.distilbert.embeddings.word_embeddings.weight

    def forward(self, input_ids, attention_mask=None, labels=None):
        h, _ = self.distilbert(input_ids, attention_mask)
        logits = self.vocab_projector(self.vocab_layer_norm(self.act(self.vocab_transform(h))))
        return F.cross_entropy(logits.view(-1, self.c.vocab_size), labels.view(-1)), logits


# ---------------------------------------------------------------- configs

BERT_SMALL = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                  hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                  max_position_embeddings=64, type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12,
                  pad_token_id=0, position_embedding_type="absolute", model_type="bert", num_labels=3)
BERT_BASE = dict(BERT_SMALL, vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512, num_labels=2)
DISTIL_SMALL = dict(vocab_size=99, max_position_embeddings=64, sinusoidal_pos_embds=False, n_layers=2, n_heads=4, dim=32,
                    hidden_dim=37, dropout=0.1, attention_dropout=0.1, activation="gelu", initializer_range=0.02,
                    qa_dropout=0.1, seq_classif_dropout=0.2, pad_token_id=0, model_type="distilbert", num_labels=3)
DISTIL_BASE = dict(DISTIL_SMALL, vocab_size=30522, max_position_embeddings=512, n_layers=6, n_heads=12, dim=768,
                   hidden_dim=3072, num_labels=2)


def hf_config(cfg, arch):
    c = dict(cfg, architectures=[arch])
    n = c.pop("num_labels")
    c["id2label"] = {str(i): "LABEL_%d" % i for i in range(n)}
    c["label2id"] = {"LABEL_%d" % i: i for i in range(n)}
    return c


def inputs(gen, vocab, batch, length, lengths):
    ids = torch.randint(1, vocab, (batch, length), generator=gen)
    mask = torch.zeros(batch, length, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    ids = ids * mask  # padding is token 0
    tt = torch.zeros(batch, length, dtype=torch.long)
    for i, n in enumerate(lengths):
        tt[i, n // 2:n] = 1  # a second segment
    return ids, mask, tt


def rounded(model, dtype):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())


def run_cls(model, out, prefix, ids, mask, tt, bert, grads=True):
    kw = dict(token_type_ids=tt) if bert else {}
    num_labels = model.c.num_labels
    gen = torch.Generator().manual_seed(7)
    labels = torch.randint(0, num_labels, (ids.size(0),), generator=gen)
    model.eval()
    model.zero_grad()
    loss, logits, h, pooled, hidden = model(ids, mask, labels=labels, **kw)
    out[prefix + "logits"] = logits
    out[prefix + "last_hidden_state"] = h
    if pooled is not None:
        out[prefix + "pooler_output"] = pooled
    for i, t in enumerate(hidden):
        out[prefix + "hidden.%d" % i] = t
    out[prefix + "labels"] = labels
    out[prefix + "loss"] = loss
    if not grads:
        return
    loss.backward()
    for name, p in model.named_parameters():
        if grads is True or name in grads:
            out["grad." + name] = p.grad.clone()
    cw = "classifier.weight"
    for kind, ptype in (("multi", "multi_label_classification"), ("reg", "regression")):
        y = torch.rand(ids.size(0), num_labels, generator=gen)
        if kind == "multi":
            y = (y > 0.5).float()
        model.zero_grad()
        loss, _, _, _, _ = model(ids, mask, labels=y, problem_type=ptype, **kw)
        loss.backward()
        out["%slabels_%s" % (prefix, kind)] = y
        out["%sloss_%s" % (prefix, kind)] = loss
        out["grad_%s.%s" % (kind, cw)] = model.classifier.weight.grad.clone()


def main():
    out_path, case = sys.argv[1], sys.argv[2]
    stem = out_path[: -len(".safetensors")] if out_path.endswith(".safetensors") else out_path
    bert = case.startswith("bert")
    small = case.endswith("small")
    cfg = {"bert_small": BERT_SMALL, "bert_base": BERT_BASE, "distilbert_small": DISTIL_SMALL,
           "distilbert_base": DISTIL_BASE}[case]
    c = SimpleNamespace(**cfg)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    cls_arch = "BertForSequenceClassification" if bert else "DistilBertForSequenceClassification"
    model = (BertForSequenceClassification if bert else DistilBertForSequenceClassification)(c)
    hf_common.randomise_(model, gen)
    if small:
        ids, mask, tt = inputs(gen, c.vocab_size, 3, 16, [16, 11, 5])
    else:
        ids, mask, tt = inputs(gen, c.vocab_size, 2, 24, [24, 17])
    out = {"input_ids": ids, "attention_mask": mask}
    if bert:
        out["token_type_ids"] = tt
    sd = model.state_dict()
    cfg_cls = hf_config(cfg, cls_arch)
    hf_common.save_folder(stem + ".cls", sd, cfg_cls)
    pick = True if small else {"classifier.weight", "classifier.bias", "pre_classifier.weight",
                               "bert.pooler.dense.weight", "bert.encoder.layer.0.attention.self.query.weight",
                               "bert.encoder.layer.11.output.dense.weight", "bert.embeddings.LayerNorm.weight",
                               "distilbert.transformer.layer.0.attention.q_lin.weight",
                               "distilbert.transformer.layer.5.ffn.lin2.weight"}
    run_cls(model, out, "cls.", ids, mask, tt, bert, grads=pick)

    with torch.no_grad():
        base = model.bert if bert else model.distilbert
        if bert:
            h, _, _ = base(ids)
        else:
            h, _ = base(ids)
        out["nomask.last_hidden_state"] = h
        if bert:
            pos = (torch.arange(ids.size(1)) + 2).unsqueeze(0)
            out["pos.position_ids"] = pos
            out["pos.last_hidden_state"] = base(ids, mask, tt, pos)[0]

    if small:
        prefix = "bert." if bert else "distilbert."
        base_sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        base_arch = "BertModel" if bert else "DistilBertModel"
        hf_common.save_folder(stem + ".base", base_sd, hf_config(cfg, base_arch))
        if bert:
            hf_common.save_folder(stem + ".cls_sharded", sd, cfg_cls, shards=3)
            bin_sd = dict(sd)
            bin_sd["bert.embeddings.position_ids"] = torch.arange(c.max_position_embeddings).expand((1, -1))
            hf_common.save_folder(stem + ".cls_bin", bin_sd, cfg_cls, fmt="bin")
            hf_common.save_folder(stem + ".cls_bin_sharded", sd, cfg_cls, fmt="bin", shards=2)
            for name, dt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
                hf_common.save_folder(stem + ".cls_" + name, sd, cfg_cls, dtype=dt)
                m = BertForSequenceClassification(c)
                m.load_state_dict(sd)
                rounded(m, dt)
                m.eval()
                with torch.no_grad():
                    out[name + ".logits"] = m(ids, mask, tt)[1]

        # Masked LM: the base weights plus a random head (BERT's with gelu_new).
        mcfg = dict(cfg, hidden_act="gelu_new") if bert else cfg
        mc = SimpleNamespace(**mcfg)
        mlm = (BertForMaskedLM if bert else DistilBertForMaskedLM)(mc)
        hf_common.randomise_(mlm, gen)
        with torch.no_grad():
            base_mlm = mlm.bert if bert else mlm.distilbert
            base_mlm.load_state_dict(base_sd, strict=False)
        mlm.eval()
        labels = torch.full_like(ids, -100)
        labels[0, 1], labels[1, 3], labels[2, 2] = 5, 7, 11
        with torch.no_grad():
            loss, logits = mlm(ids, mask, tt, labels) if bert else mlm(ids, mask, labels)
        out["mlm.labels"], out["mlm.logits"], out["mlm.loss"] = labels, logits, loss
        msd = mlm.state_dict()
        tied = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"] if bert else ["vocab_projector.weight"]
        mlm_arch = "BertForMaskedLM" if bert else "DistilBertForMaskedLM"
        hf_common.save_folder(stem + ".mlm", {k: v for k, v in msd.items() if k not in tied}, hf_config(mcfg, mlm_arch))
        if bert:
            old = {}
            for k, v in msd.items():
                if "LayerNorm.weight" in k:
                    k = k.replace("LayerNorm.weight", "LayerNorm.gamma")
                elif "LayerNorm.bias" in k:
                    k = k.replace("LayerNorm.bias", "LayerNorm.beta")
                old[k] = v
            hf_common.save_folder(stem + ".mlm_bin", old, hf_config(mcfg, mlm_arch), fmt="bin")

    safetensors_py.save(out_path, {k: v.detach() for k, v in out.items()}, {"torch": torch.__version__})


if __name__ == "__main__":
    main()
