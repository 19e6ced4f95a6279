"""Reference data for ark's decoders (GPT-2, LLaMA-style) and generation (tests/models/test_gpt2.cpp,
test_llama.cpp, test_generation.cpp, tests/apps/test_cli_generate.cpp).

Run with Debian's Python (PyTorch 1.13; no `transformers` there):
    /usr/bin/python3 tools/reference/text_decoders.py OUT.ref.safetensors CASE
CASE: gpt2_tiny, gpt2_small (real size: 12 layers, 768, vocab 50257), llama_tiny (GQA 4:2),
      llama_tiny_mqa (MQA 4:1, attention_bias, tied embeddings, rope_theta 5e5),
      llama_medium (moderate size: 8 layers, 512, GQA 8:2, vocab 32000), processors; or
      `bench MODEL_FOLDER` (times PyTorch prefill and cached greedy decode, prints JSON).

The models below are plain PyTorch written like Hugging Face's modeling_gpt2.py /
modeling_llama.py (same module tree, so the same parameter names, same maths: Conv1D [in, out],
gelu_new, rotate_half rotary layout, repeat_kv for GQA, float32 softmax, finfo.min masks), built
with seeded random weights. Written next to OUT (OUT without ".ref.safetensors" = BASE):
  BASE.hf/config.json, BASE.hf/model.safetensors   the causal LM as a Hugging Face folder
  BASE_cls.hf/...                                  (tiny cases) the *ForSequenceClassification model
  OUT (written last):
    input_ids (2, T)       random tokens; logits (2, T, V); hidden.N for N = 0..n_layer (HF's
                           output_hidden_states: embeddings, each block, the last after the final norm)
    greedy.prompt (1, P), greedy.tokens (1, 64)   greedy continuation computed WITHOUT a cache
    cls.input_ids, cls.attention_mask (3, 10) right-padded rows; cls.logits (3, num_labels);
    cls.target; cls.grad.<param>  gradients of sum(cls.logits * cls.target) in eval mode
  processors: fixed logits and the outputs of HF's logits processors (repetition penalty,
    temperature, top-k, top-p and the chain in generate()'s order).
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402

torch.set_num_threads(2)


# ---------------------------------------------------------------- masks (HF's 4-D additive masks)

def causal_mask(attention_mask, L, past, dtype):
    """(B, 1, L, past + L) additive mask: finfo.min above the diagonal and on padded keys."""
    S = past + L
    minv = torch.finfo(dtype).min
    i = torch.arange(L)[:, None] + past
    j = torch.arange(S)[None, :]
    m = torch.zeros(L, S, dtype=dtype).masked_fill(j > i, minv)[None, None]
    if attention_mask is not None:
        m = m.masked_fill(attention_mask[:, None, None, :S] == 0, minv)
    return m


# ---------------------------------------------------------------- GPT-2 (modeling_gpt2.py)

class Conv1D(nn.Module):
    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size_out)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_dim, self.num_heads = c["n_embd"], c["n_head"]
        self.head_dim = self.embed_dim // self.num_heads
        self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)
        self.c_proj = Conv1D(self.embed_dim, self.embed_dim)
        self.attn_dropout = nn.Dropout(c["attn_pdrop"])
        self.resid_dropout = nn.Dropout(c["resid_pdrop"])

    def _split_heads(self, t):
        return t.view(t.size()[:-1] + (self.num_heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, x, mask):
        q, k, v = self.c_attn(x).split(self.embed_dim, dim=2)
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        w = torch.matmul(q, k.transpose(-1, -2)) / (v.size(-1) ** 0.5)
        w = w + mask
        w = self.attn_dropout(F.softmax(w, dim=-1))
        o = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous()
        o = o.view(o.size()[:-2] + (self.embed_dim,))
        return self.resid_dropout(self.c_proj(o))


class GPT2MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        inner = c.get("n_inner") or 4 * c["n_embd"]
        self.c_fc = Conv1D(inner, c["n_embd"])
        self.c_proj = Conv1D(c["n_embd"], inner)
        self.dropout = nn.Dropout(c["resid_pdrop"])

    def forward(self, x):
        return self.dropout(self.c_proj(gelu_new(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])
        self.attn = GPT2Attention(c)
        self.ln_2 = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])
        self.mlp = GPT2MLP(c)

    def forward(self, x, mask):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.wpe = nn.Embedding(c["n_positions"], c["n_embd"])
        self.drop = nn.Dropout(c["embd_pdrop"])
        self.h = nn.ModuleList([GPT2Block(c) for _ in range(c["n_layer"])])
        self.ln_f = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])

    def forward(self, input_ids, attention_mask=None):
        B, L = input_ids.shape
        pos = torch.arange(L)[None]
        x = self.drop(self.wte(input_ids) + self.wpe(pos))
        mask = causal_mask(attention_mask, L, 0, x.dtype)
        hidden = [x]
        for block in self.h:
            x = block(x, mask)
            hidden.append(x)
        hidden[-1] = x = self.ln_f(x)
        return x, hidden


class GPT2LMHeadModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = GPT2Model(c)

    def forward(self, input_ids, attention_mask=None, last_only=False):
        h, hidden = self.transformer(input_ids, attention_mask)
        if last_only:
            h = h[:, -1:]
        return F.linear(h, self.transformer.wte.weight), hidden  # tied lm_head


class GPT2ForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = GPT2Model(c)
        self.score = nn.Linear(c["n_embd"], c["num_labels"], bias=False)
        self.pad_token_id = c.get("pad_token_id")

    def forward(self, input_ids, attention_mask=None):
        h, _ = self.transformer(input_ids, attention_mask)
        return pool_last_non_pad(self.score(h), input_ids, self.pad_token_id)


def pool_last_non_pad(logits, input_ids, pad_token_id):
    # HF: the last token that is not padding in each row (the last token when there is no pad id).
    if pad_token_id is None:
        idx = torch.full((input_ids.shape[0],), input_ids.shape[1] - 1)
    else:
        non_pad = (input_ids != pad_token_id).long()
        idx = (torch.arange(input_ids.shape[1]) * non_pad).argmax(-1)
    return logits[torch.arange(logits.shape[0]), idx]


# ---------------------------------------------------------------- LLaMA (modeling_llama.py)

class LlamaRMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.variance_epsilon = eps

    def forward(self, x):
        dt = x.dtype
        x = x.to(torch.float32)
        var = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(var + self.variance_epsilon)
        return self.weight * x.to(dt)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rotary_cos_sin(position_ids, head_dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = position_ids[..., None].float() * inv_freq  # (B, L, hd/2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def repeat_kv(x, n_rep):
    b, h, s, d = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, h, n_rep, s, d).reshape(b, h * n_rep, s, d)


class LlamaAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.hidden_size, self.num_heads = c["hidden_size"], c["num_attention_heads"]
        self.head_dim = c.get("head_dim") or self.hidden_size // self.num_heads
        self.num_kv = c["num_key_value_heads"]
        self.theta = c["rope_theta"]
        b = c["attention_bias"]
        self.q_proj = nn.Linear(self.hidden_size, self.num_heads * self.head_dim, bias=b)
        self.k_proj = nn.Linear(self.hidden_size, self.num_kv * self.head_dim, bias=b)
        self.v_proj = nn.Linear(self.hidden_size, self.num_kv * self.head_dim, bias=b)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, self.hidden_size, bias=b)

    def forward(self, x, mask, position_ids):
        B, L, _ = x.shape
        q = self.q_proj(x).view(B, L, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, L, self.num_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, L, self.num_kv, self.head_dim).transpose(1, 2)
        cos, sin = rotary_cos_sin(position_ids, self.head_dim, self.theta)
        cos, sin = cos[:, None], sin[:, None]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = repeat_kv(k, self.num_heads // self.num_kv)
        v = repeat_kv(v, self.num_heads // self.num_kv)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim) + mask
        w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(w, v).transpose(1, 2).reshape(B, L, -1)
        return self.o_proj(o)


class LlamaMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, i = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = LlamaAttention(c)
        self.mlp = LlamaMLP(c)
        self.input_layernorm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, mask, position_ids):
        x = x + self.self_attn(self.input_layernorm(x), mask, position_ids)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"], c.get("pad_token_id"))
        self.layers = nn.ModuleList([LlamaDecoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, input_ids, attention_mask=None):
        B, L = input_ids.shape
        pos = torch.arange(L)[None].expand(B, L)
        x = self.embed_tokens(input_ids)
        mask = causal_mask(attention_mask, L, 0, x.dtype)
        hidden = [x]
        for layer in self.layers:
            x = layer(x, mask, pos)
            hidden.append(x)
        hidden[-1] = x = self.norm(x)
        return x, hidden


class LlamaForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = LlamaModel(c)
        self.tied = c["tie_word_embeddings"]
        if not self.tied:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, input_ids, attention_mask=None, last_only=False):
        h, hidden = self.model(input_ids, attention_mask)
        if last_only:
            h = h[:, -1:]
        w = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return F.linear(h, w), hidden


class LlamaForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = LlamaModel(c)
        self.score = nn.Linear(c["hidden_size"], c["num_labels"], bias=False)
        self.pad_token_id = c.get("pad_token_id")

    def forward(self, input_ids, attention_mask=None):
        h, _ = self.model(input_ids, attention_mask)
        return pool_last_non_pad(self.score(h), input_ids, self.pad_token_id)


# ---------------------------------------------------------------- configs

def gpt2_config(**kw):
    c = dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=50257, n_positions=1024, n_embd=768,
             n_layer=12, n_head=12, n_inner=None, activation_function="gelu_new", resid_pdrop=0.1, embd_pdrop=0.1,
             attn_pdrop=0.1, layer_norm_epsilon=1e-5, initializer_range=0.02, scale_attn_weights=True,
             bos_token_id=50256, eos_token_id=50256, tie_word_embeddings=True, torch_dtype="float32")
    c.update(kw)
    return c


def llama_config(**kw):
    c = dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=32000, hidden_size=4096,
             intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
             hidden_act="silu", max_position_embeddings=2048, rms_norm_eps=1e-6, rope_theta=10000.0,
             attention_bias=False, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=None,
             initializer_range=0.02, torch_dtype="float32")
    c.update(kw)
    return c


CASES = {
    "gpt2_tiny": ("gpt2", gpt2_config(vocab_size=128, n_positions=96, n_embd=64, n_layer=2, n_head=4,
                                      bos_token_id=127, eos_token_id=127, pad_token_id=0), 0.15),
    "gpt2_small": ("gpt2", gpt2_config(), 0.02),
    "llama_tiny": ("llama", llama_config(vocab_size=128, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=96,
                                         rms_norm_eps=1e-5, pad_token_id=0, bos_token_id=1, eos_token_id=2), 0.15),
    "llama_tiny_mqa": ("llama", llama_config(vocab_size=128, hidden_size=64, intermediate_size=128,
                                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                                             max_position_embeddings=96, rope_theta=500000.0, attention_bias=True,
                                             tie_word_embeddings=True, pad_token_id=0, bos_token_id=1,
                                             eos_token_id=2), 0.15),
    "llama_medium": ("llama", llama_config(vocab_size=32000, hidden_size=512, intermediate_size=1408,
                                           num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
                                           max_position_embeddings=512), 0.02),
}


def build(family, c, std, gen, cls=False):
    torch.manual_seed(0)
    if family == "gpt2":
        model = GPT2ForSequenceClassification(c) if cls else GPT2LMHeadModel(c)
    else:
        model = LlamaForSequenceClassification(c) if cls else LlamaForCausalLM(c)
    with torch.no_grad():  # seeded random weights: non-trivial norms and biases too
        for name, p in model.named_parameters():
            if name.endswith("bias") or (name.endswith("weight") and ("ln" in name or "norm" in name)):
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + torch.randn(p.shape, generator=gen) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model.eval()


def save_folder(folder, model, config):
    os.makedirs(folder, exist_ok=True)
    sd = {k: v for k, v in model.state_dict().items()}
    safetensors_py.save(os.path.join(folder, "model.safetensors"), sd, {"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def greedy(model, prompt, n):
    ids = prompt
    with torch.no_grad():
        for _ in range(n):  # no cache: the whole sequence every step
            logits, _ = model(ids, last_only=True)  # the head on the last position only (same values)
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], 1)
    return ids[:, prompt.shape[1]:]


def make_case(out_path, name):
    base = out_path[:-len(".ref.safetensors")]
    family, config, std = CASES[name]
    gen = torch.Generator().manual_seed(1234)
    model = build(family, config, std, gen)
    save_folder(base + ".hf", model, config)
    V = config["vocab_size"]
    n_layer = config.get("n_layer") or config["num_hidden_layers"]
    out = {}
    T = 12 if V < 1000 else 7
    ids = torch.randint(3, V, (2, T), generator=gen)
    out["input_ids"] = ids
    with torch.no_grad():
        logits, hidden = model(ids)
    out["logits"] = logits
    for i in range(n_layer + 1):
        out["hidden.%d" % i] = hidden[i]
    prompt = torch.randint(3, V, (1, 8), generator=gen)
    out["greedy.prompt"] = prompt
    out["greedy.tokens"] = greedy(model, prompt, 64)

    if V < 1000:  # the classification head, with its own folder
        c = dict(config, num_labels=3)
        c["architectures"] = ["GPT2ForSequenceClassification" if family == "gpt2" else "LlamaForSequenceClassification"]
        cls = build(family, c, std, torch.Generator().manual_seed(99), cls=True)
        cls.load_state_dict({**{k: v for k, v in model.state_dict().items() if not k.startswith("lm_head")},
                             "score.weight": cls.score.weight.detach().clone()})
        save_folder(base + "_cls.hf", cls, c)
        pad = c["pad_token_id"]
        cid = torch.randint(3, V, (3, 10), generator=gen)
        mask = torch.ones(3, 10, dtype=torch.int64)
        for row, n in ((1, 3), (2, 6)):
            cid[row, 10 - n:] = pad
            mask[row, 10 - n:] = 0
        out["cls.input_ids"], out["cls.attention_mask"] = cid, mask
        target = torch.randn(3, 3, generator=gen)
        out["cls.target"] = target
        cls_logits = cls(cid, mask)
        (cls_logits * target).sum().backward()
        out["cls.logits"] = cls_logits.detach()
        for n, p in cls.named_parameters():
            if p.grad is not None and (n.startswith("score") or ".0." in n or "ln_f" in n or "model.norm" in n
                                       or "wte" in n or "wpe" in n or "embed_tokens" in n):
                out["cls.grad." + n] = p.grad
    meta = {"torch": torch.__version__, "case": name, "generator": "tools/reference/text_decoders.py"}
    safetensors_py.save(out_path, out, meta)


# ---------------------------------------------------------------- logits processors (HF generation/logits_process.py)

def repetition_penalty(input_ids, scores, penalty):
    score = torch.gather(scores, 1, input_ids)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return scores.scatter(1, input_ids, score)


def temperature(scores, t):
    return scores / t


def top_k(scores, k, filter_value=-float("inf"), min_tokens_to_keep=1):
    k = min(max(k, min_tokens_to_keep), scores.size(-1))
    remove = scores < torch.topk(scores, k)[0][..., -1, None]
    return scores.masked_fill(remove, filter_value)


def top_p(scores, p, filter_value=-float("inf"), min_tokens_to_keep=1):
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cum <= (1 - p)
    remove_sorted[..., -min_tokens_to_keep:] = 0
    remove = remove_sorted.scatter(1, sorted_indices, remove_sorted)
    return scores.masked_fill(remove, filter_value)


def make_processors(out_path):
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(3, 50, generator=gen) * 2
    ids = torch.randint(0, 50, (3, 9), generator=gen)
    out = {"logits": logits, "input_ids": ids}
    out["rep1.3"] = repetition_penalty(ids, logits, 1.3)
    out["rep0.8"] = repetition_penalty(ids, logits, 0.8)
    out["temp0.7"] = temperature(logits, 0.7)
    for k in (1, 5, 60):
        out["topk%d" % k] = top_k(logits, k)
    for p in (0.0, 0.5, 0.9, 1.0):
        out["topp%g" % p] = top_p(logits, p)
    # generate()'s order: repetition penalty, then the warpers temperature, top-k, top-p.
    out["chain"] = top_p(top_k(temperature(repetition_penalty(ids, logits, 1.2), 0.8), 10), 0.85)
    safetensors_py.save(out_path, out, {"torch": torch.__version__, "generator": "tools/reference/text_decoders.py"})


# ---------------------------------------------------------------- benchmark (PyTorch side)

def gpt2_cached_step(model):
    """HF's cached GPT-2 forward: new K/V concatenated to the past (layer_past), positions from start;
    returns the last position's logits and the new past."""
    tr = model.transformer

    def step(ids, past, start):
        B, L = ids.shape
        x = tr.wte(ids) + tr.wpe(torch.arange(start, start + L)[None])
        new_past = []
        for i, blk in enumerate(tr.h):
            a = blk.attn
            hq, hk, hv = a.c_attn(blk.ln_1(x)).split(a.embed_dim, dim=2)
            q, k, v = a._split_heads(hq), a._split_heads(hk), a._split_heads(hv)
            if past is not None:
                k = torch.cat([past[i][0], k], dim=-2)
                v = torch.cat([past[i][1], v], dim=-2)
            new_past.append((k, v))
            w = torch.matmul(q, k.transpose(-1, -2)) / (v.size(-1) ** 0.5)
            if L > 1:
                w = w + causal_mask(None, L, start, w.dtype)
            o = torch.matmul(F.softmax(w, dim=-1), v).permute(0, 2, 1, 3).reshape(B, L, a.embed_dim)
            x = x + a.c_proj(o)
            x = x + blk.mlp(blk.ln_2(x))
        x = tr.ln_f(x[:, -1:])
        return F.linear(x, tr.wte.weight), new_past

    return step


def bench(folder, prompt_len=32, new_tokens=64, reps=3):
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    assert c["model_type"] == "gpt2"
    model = GPT2LMHeadModel(c).eval()
    sd = safetensors_py.load(os.path.join(folder, "model.safetensors"))
    model.load_state_dict(sd, strict=False)
    step = gpt2_cached_step(model)

    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, c["vocab_size"], (1, prompt_len), generator=gen)
    res = {"prefill_s": [], "decode_tok_s": []}
    with torch.no_grad():
        for _ in range(reps):
            t0 = time.perf_counter()
            logits, past = step(prompt, None, 0)
            t1 = time.perf_counter()
            tok = logits[:, -1].argmax(-1, keepdim=True)
            for i in range(new_tokens):
                logits, past = step(tok, past, prompt_len + i)
                tok = logits[:, -1].argmax(-1, keepdim=True)
            t2 = time.perf_counter()
            res["prefill_s"].append(t1 - t0)
            res["decode_tok_s"].append(new_tokens / (t2 - t1))
    res["threads"] = torch.get_num_threads()
    print(json.dumps(res))


def main():
    if sys.argv[1] == "bench":
        return bench(sys.argv[2])
    out_path, name = sys.argv[1], sys.argv[2]
    if name == "processors":
        return make_processors(out_path)
    make_case(out_path, name)


if __name__ == "__main__":
    main()
