"""Gemma 4 text decoder (12B-Unified layout) and its MTP drafter in PyTorch, for training the
embedded default model. Spec: gemma4-architecture.md §2 (decoder), §3 (RoPE), §7 (drafter).

  decoder layer:  a = rms(h; attn_norm)
                  q = rope(rms_head(Wq a; q_norm)); k = rope(rms_head(Wk a; k_norm))
                  v = rms_head(Wv a)   (no weight; full layers with K=V: v = rms_head(Wk a))
                  o = Wo softmax(q k^T * 1.0 + mask) v      (sliding layers: q_pos - k_pos < W)
                  h1 = h + rms(o; post_attention_norm)
                  h2 = h1 + rms(Wd(gelu_tanh(Wg x) * Wu x); post_ffw_norm), x = rms(h1; ffn_norm)
                  h' = h2 * layer_scalar
  output:         hN = rms(h_L; output_norm); logits = 30 tanh(E hN / 30)   (E tied)
  RoPE (NEOX pairs i, i + D/2): sliding theta 1e4 over the whole head; full layers
                  "proportional": pairs i < 0.25 D / 2 rotate with 1e6^(-2i/D), the rest do not.
  drafter step:   x = Wpre [E_t[tok] sqrt(d_t); h]; layers as above without K/V of their own
                  (sliding layers read the target's last sliding layer's K/V, full layers its
                  last full layer's), queries at the draft position P see keys < P;
                  xn = rms(x; output_norm); logits = E_a xn (no softcap); h' = Wpost xn.

Weights use the torch layout [out, in]; names are the GGUF ones (see to_gguf / from_gguf).
"""
import math

import torch
import torch.nn.functional as F

EPS = 1e-6


class Config:
    def __init__(self, n_layer, d, ff, n_head, nkv_swa, nkv_full, hd_swa, hd_full, window,
                 swa_pattern, k_eq_v=True, rope_swa=1e4, rope_full=1e6, softcap=30.0,
                 n_vocab=262144):
        self.n_layer, self.d, self.ff, self.n_head = n_layer, d, ff, n_head
        self.nkv_swa, self.nkv_full, self.hd_swa, self.hd_full = nkv_swa, nkv_full, hd_swa, hd_full
        self.window, self.swa = window, list(swa_pattern)
        self.k_eq_v, self.rope_swa, self.rope_full = k_eq_v, rope_swa, rope_full
        self.softcap, self.n_vocab = softcap, n_vocab

    def hd(self, il):
        return self.hd_swa if self.swa[il] else self.hd_full

    def nkv(self, il):
        return self.nkv_swa if self.swa[il] else self.nkv_full


def rms(x, w=None):
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)
    return x * w if w is not None else x


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


def rope_inv_freq(hd, full, base):
    half = hd // 2
    inv = torch.zeros(half, dtype=torch.float64)
    n_rot = int(0.25 * hd // 2) if full else half
    i = torch.arange(n_rot, dtype=torch.float64)
    inv[:n_rot] = base ** (-2.0 * i / hd)
    return inv.float()


def apply_rope(x, pos, inv):
    """x [B, T, H, D]; pos [T] (or [B, T]) float positions; NEOX pairs (i, i + D/2)."""
    ang = pos.float()[..., None] * inv  # [.., T, D/2]
    cos, sin = torch.cos(ang), torch.sin(ang)
    if cos.dim() == 2:
        cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    else:
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


def attend(q, k, v, mask):
    """q [B, Tq, H, D], k/v [B, Tk, Hkv, D], mask [Tq, Tk] bool (True = visible). Scale 1.0."""
    rep = q.shape[2] // k.shape[2]
    if rep > 1:
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
    s = torch.einsum("bqhd,bkhd->bhqk", q, k)
    s = s.masked_fill(~mask, float("-inf"))
    p = torch.softmax(s.float(), -1)
    return torch.einsum("bhqk,bkhd->bqhd", p, v)


def make_mask(q_pos, k_pos, window, strict):
    """visible: k < q (strict, drafter) or k <= q (causal), and q - k < window when window."""
    dq = q_pos[:, None] - k_pos[None, :]
    m = dq > 0 if strict else dq >= 0
    if window:
        m = m & (dq < window)
    return m


class Target(torch.nn.Module):
    def __init__(self, cfg, n_rows=None):
        super().__init__()
        self.cfg = c = cfg
        P = torch.nn.Parameter
        # n_rows: a compact embedding (the rows of the used tokens only; see train.py)
        self.tok_embd = P(torch.zeros(n_rows or c.n_vocab, c.d))
        self.layers = torch.nn.ModuleList()
        for il in range(c.n_layer):
            hd, nkv = c.hd(il), c.nkv(il)
            L = torch.nn.Module()
            L.attn_norm = P(torch.ones(c.d))
            L.attn_q = P(torch.zeros(c.n_head * hd, c.d))
            L.attn_q_norm = P(torch.ones(hd))
            L.attn_k = P(torch.zeros(nkv * hd, c.d))
            L.attn_k_norm = P(torch.ones(hd))
            L.has_v = c.swa[il] or not c.k_eq_v
            if L.has_v:
                L.attn_v = P(torch.zeros(nkv * hd, c.d))
            L.attn_output = P(torch.zeros(c.d, c.n_head * hd))
            L.post_attention_norm = P(torch.ones(c.d))
            L.ffn_norm = P(torch.ones(c.d))
            L.ffn_gate = P(torch.zeros(c.ff, c.d))
            L.ffn_up = P(torch.zeros(c.ff, c.d))
            L.ffn_down = P(torch.zeros(c.d, c.ff))
            L.post_ffw_norm = P(torch.ones(c.d))
            L.register_buffer("layer_output_scale", torch.ones(1))
            self.layers.append(L)
        self.output_norm = P(torch.ones(c.d))
        self.inv = {True: rope_inv_freq(c.hd_swa, False, c.rope_swa),
                    False: rope_inv_freq(c.hd_full, True, c.rope_full)}

    def init_weights(self, gen, emb_std=0.02):
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = emb_std if name == "tok_embd" else 1.0 / math.sqrt(p.shape[1])
                    if name.endswith("attn_output") or name.endswith("ffn_down"):
                        std /= math.sqrt(2 * self.cfg.n_layer)
                    p.copy_(torch.randn(p.shape, generator=gen) * std)

    def embed(self, tokens):
        return self.tok_embd[tokens] * math.sqrt(self.cfg.d)

    def forward(self, tokens, want_states=False):
        """tokens [B, T] (rows of tok_embd) -> (hN [B, T, d], kv {True: (K, V) of the last
        sliding layer, False: of the last full layer}, states [n_layer+1] when want_states)."""
        c = self.cfg
        B, T = tokens.shape
        pos = torch.arange(T)
        x = self.embed(tokens)
        states = [x] if want_states else None
        masks = {True: make_mask(pos, pos, c.window, False), False: make_mask(pos, pos, 0, False)}
        kv = {}
        for il, L in enumerate(self.layers):
            swa = c.swa[il]
            hd, nkv = c.hd(il), c.nkv(il)
            a = rms(x, L.attn_norm)
            q = rms((a @ L.attn_q.t()).view(B, T, c.n_head, hd), L.attn_q_norm)
            q = apply_rope(q, pos, self.inv[swa])
            kraw = (a @ L.attn_k.t()).view(B, T, nkv, hd)
            vraw = (a @ L.attn_v.t()).view(B, T, nkv, hd) if L.has_v else kraw
            k = apply_rope(rms(kraw, L.attn_k_norm), pos, self.inv[swa])
            v = rms(vraw)
            kv[swa] = (k, v)
            o = attend(q, k, v, masks[swa]).reshape(B, T, c.n_head * hd) @ L.attn_output.t()
            x = x + rms(o, L.post_attention_norm)
            f = rms(x, L.ffn_norm)
            f = (gelu_tanh(f @ L.ffn_gate.t()) * (f @ L.ffn_up.t())) @ L.ffn_down.t()
            x = x + rms(f, L.post_ffw_norm)
            x = x * L.layer_output_scale
            if want_states and il < c.n_layer - 1:
                states.append(x)
        hN = rms(x, self.output_norm)
        if want_states:
            states.append(hN)
        return hN, kv, states

    def logits(self, hN, rows=None):
        E = self.tok_embd if rows is None else self.tok_embd[rows]
        z = hN @ E.t()
        return self.cfg.softcap * torch.tanh(z / self.cfg.softcap)

    # ---- GGUF names ---------------------------------------------------------------------------
    def gguf_tensors(self, embd_full):
        """[(name, array)] in the order llama.cpp's converter writes them (cf. the fixture)."""
        c = self.cfg
        out = [("rope_freqs.weight", rope_freqs(c.hd_full)), ("token_embd.weight", embd_full)]
        for il, L in enumerate(self.layers):
            b = "blk.%d." % il
            t = [("attn_norm", L.attn_norm), ("layer_output_scale", L.layer_output_scale),
                 ("ffn_down", L.ffn_down), ("ffn_gate", L.ffn_gate), ("ffn_up", L.ffn_up),
                 ("post_attention_norm", L.post_attention_norm), ("post_ffw_norm", L.post_ffw_norm),
                 ("ffn_norm", L.ffn_norm), ("attn_k_norm", L.attn_k_norm), ("attn_k", L.attn_k),
                 ("attn_output", L.attn_output), ("attn_q_norm", L.attn_q_norm), ("attn_q", L.attn_q)]
            if L.has_v:
                t.append(("attn_v", L.attn_v))
            out += [(b + n + ".weight", p.detach().numpy()) for n, p in t]
        out.append(("output_norm.weight", self.output_norm.detach().numpy()))
        return out

    def load_gguf(self, tensors):
        with torch.no_grad():
            self.tok_embd.copy_(torch.from_numpy(tensors["token_embd.weight"]))
            self.output_norm.copy_(torch.from_numpy(tensors["output_norm.weight"]))
            for il, L in enumerate(self.layers):
                for n, p in list(L.named_parameters()) + list(L.named_buffers()):
                    p.copy_(torch.from_numpy(tensors["blk.%d.%s.weight" % (il, n)]).reshape(p.shape))


def rope_freqs(hd_full):
    half = hd_full // 2
    n_rot = int(0.25 * hd_full // 2)
    import numpy as np
    return np.array([1.0] * n_rot + [1e30] * (half - n_rot), dtype=np.float32)


class Drafter(torch.nn.Module):
    """The MTP assistant: n_layer layers (types `swa`), width d, reading the target's K/V."""

    def __init__(self, cfg, tcfg, n_rows=None):
        super().__init__()
        self.cfg, self.tcfg = c, t = cfg, tcfg
        P = torch.nn.Parameter
        self.tok_embd = P(torch.zeros(n_rows or c.n_vocab, c.d))
        self.pre_projection = P(torch.zeros(c.d, 2 * t.d))
        self.post_projection = P(torch.zeros(t.d, c.d))
        self.layers = torch.nn.ModuleList()
        for il in range(c.n_layer):
            hd = c.hd(il)
            L = torch.nn.Module()
            L.attn_norm = P(torch.ones(c.d))
            L.attn_q = P(torch.zeros(c.n_head * hd, c.d))
            L.attn_q_norm = P(torch.ones(hd))
            L.attn_output = P(torch.zeros(c.d, c.n_head * hd))
            L.post_attention_norm = P(torch.ones(c.d))
            L.ffn_norm = P(torch.ones(c.d))
            L.ffn_gate = P(torch.zeros(c.ff, c.d))
            L.ffn_up = P(torch.zeros(c.ff, c.d))
            L.ffn_down = P(torch.zeros(c.d, c.ff))
            L.post_ffw_norm = P(torch.ones(c.d))
            L.register_buffer("layer_output_scale", torch.ones(1))
            self.layers.append(L)
        self.output_norm = P(torch.ones(c.d))
        self.inv = {True: rope_inv_freq(c.hd_swa, False, c.rope_swa),
                    False: rope_inv_freq(c.hd_full, True, c.rope_full)}

    def init_weights(self, gen):
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = 0.02 if name == "tok_embd" else 1.0 / math.sqrt(p.shape[1])
                    p.copy_(torch.randn(p.shape, generator=gen) * std)

    def step(self, e_tok, h, kv, q_pos, k_pos):
        """One draft step for a batch of queries. e_tok [B, Q, d_t] (the target's scaled
        embedding of the input token), h [B, Q, d_t]; kv as Target.forward returns; q_pos [Q]
        the draft positions, k_pos [Tk] the key positions (visible: k < q, window on sliding).
        -> (xn [B, Q, d_a], h_next [B, Q, d_t])."""
        c = self.cfg
        B, Q, _ = h.shape
        x = torch.cat([e_tok, h], -1) @ self.pre_projection.t()
        for il, L in enumerate(self.layers):
            swa = c.swa[il]
            hd = c.hd(il)
            k, v = kv[swa]
            a = rms(x, L.attn_norm)
            q = rms((a @ L.attn_q.t()).view(B, Q, c.n_head, hd), L.attn_q_norm)
            q = apply_rope(q, q_pos, self.inv[swa])
            m = make_mask(q_pos, k_pos, c.window if swa else 0, True)
            o = attend(q, k, v, m).reshape(B, Q, c.n_head * hd) @ L.attn_output.t()
            x = x + rms(o, L.post_attention_norm)
            f = rms(x, L.ffn_norm)
            f = (gelu_tanh(f @ L.ffn_gate.t()) * (f @ L.ffn_up.t())) @ L.ffn_down.t()
            x = x + rms(f, L.post_ffw_norm)
            x = x * L.layer_output_scale
        xn = rms(x, self.output_norm)
        return xn, xn @ self.post_projection.t()

    def logits(self, xn, rows=None):
        E = self.tok_embd if rows is None else self.tok_embd[rows]
        return xn @ E.t()

    def gguf_tensors(self, embd_full, extra=()):
        c = self.cfg
        out = [("rope_freqs.weight", rope_freqs(c.hd_full)), ("token_embd.weight", embd_full)]
        for il, L in enumerate(self.layers):
            b = "blk.%d." % il
            t = [("attn_norm", L.attn_norm), ("layer_output_scale", L.layer_output_scale),
                 ("ffn_down", L.ffn_down), ("ffn_gate", L.ffn_gate), ("ffn_up", L.ffn_up),
                 ("post_attention_norm", L.post_attention_norm), ("post_ffw_norm", L.post_ffw_norm),
                 ("ffn_norm", L.ffn_norm), ("attn_output", L.attn_output),
                 ("attn_q_norm", L.attn_q_norm), ("attn_q", L.attn_q)]
            out += [(b + n + ".weight", p.detach().numpy()) for n, p in t]
        out.append(("output_norm.weight", self.output_norm.detach().numpy()))
        out.append(("nextn.post_projection.weight", self.post_projection.detach().numpy()))
        out.append(("nextn.pre_projection.weight", self.pre_projection.detach().numpy()))
        out += list(extra)
        return out

    def load_gguf(self, tensors):
        with torch.no_grad():
            self.tok_embd.copy_(torch.from_numpy(tensors["token_embd.weight"]))
            self.output_norm.copy_(torch.from_numpy(tensors["output_norm.weight"]))
            self.pre_projection.copy_(torch.from_numpy(tensors["nextn.pre_projection.weight"]))
            self.post_projection.copy_(torch.from_numpy(tensors["nextn.post_projection.weight"]))
            for il, L in enumerate(self.layers):
                for n, p in list(L.named_parameters()) + list(L.named_buffers()):
                    p.copy_(torch.from_numpy(tensors["blk.%d.%s.weight" % (il, n)]).reshape(p.shape))


def config_from_kvs(kvs, arch):
    g = lambda k: kvs[arch + "." + k]  # noqa: E731
    swa = [bool(v) for v in g("attention.sliding_window_pattern")]
    hkv = g("attention.head_count_kv")
    hkv = [int(v) for v in hkv] if hasattr(hkv, "__len__") else [int(hkv)] * len(swa)
    nkv_swa = next((h for h, s in zip(hkv, swa) if s), hkv[0])
    nkv_full = next((h for h, s in zip(hkv, swa) if not s), hkv[-1])
    return Config(int(g("block_count")), int(g("embedding_length")), int(g("feed_forward_length")),
                  int(g("attention.head_count")), nkv_swa, nkv_full, int(g("attention.key_length_swa")),
                  int(g("attention.key_length")), int(g("attention.sliding_window")), swa,
                  rope_swa=float(g("rope.freq_base_swa")), rope_full=float(g("rope.freq_base")),
                  softcap=float(g("final_logit_softcapping")))
