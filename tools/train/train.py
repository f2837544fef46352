#!/usr/bin/python3
"""Trains the embedded default model: a tiny Gemma 4 (12B-Unified layout) on the WordNet chat
corpus, then its MTP drafter on the target's own hidden states and K/V, and exports both as
float GGUFs in the layout llama.cpp's converter writes (g4-quantize then makes the Q8_0 files).
Deterministic: fixed seeds, fixed thread count, no data-dependent threading.

usage: train.py IDS.txt VOCAB.gguf OUTDIR [--threads N] [--target-steps N] [--draft-steps N]

  IDS.txt     one tokenized sample per line (tools/train/corpus.py | g4-tokenize --lines --special)
  OUTDIR      gets ckpt-*.pt (resumable checkpoints; a rerun continues where it stopped),
              rollouts*.pt (the target's greedy continuations: training / held-out questions),
              target-f32.gguf, assistant-f32.gguf, heldout.txt (ids of the held-out samples),
              train-log.txt

Data: the samples whose tokens are all among the K most frequent tokens of the corpus (K =
VOCAB_ROWS), so the model trains only those rows of the 262144-row embedding (the others stay
zero: the asset stays small). Every 50th sample is held out. The loss is the full-vocabulary
cross-entropy: each untrained token has logit 0, which the compact head accounts for with one
extra logit log(262144 - K).
"""
import argparse
import math
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("ids")
ap.add_argument("vocab")
ap.add_argument("out")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--target-steps", type=int, default=500)
ap.add_argument("--draft-steps", type=int, default=200)
args = ap.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import centroid_head  # noqa: E402
import gemma4  # noqa: E402
from gguf_io import (kv_arr_bool, kv_arr_i32, kv_f32, kv_str, kv_u32, read_gguf,  # noqa: E402
                     write_gguf)

N_VOCAB = 262144
VOCAB_ROWS = 8192        # trained embedding rows (most frequent corpus tokens)
HOLDOUT_EVERY = 50
SEQ, BATCH = 128, 8
SEED = 1234
# target: 4 layers (3 sliding + 1 full K=V), width 128, the 12B-Unified structure scaled down
TARGET = dict(n_layer=4, d=128, ff=512, n_head=4, nkv_swa=2, nkv_full=1, hd_swa=32, hd_full=64,
              window=128, swa_pattern=[True, True, True, False])
# drafter: 2 layers (sliding, full) reading the target's K/V, width 64, centroid-masked head
DRAFT = dict(n_layer=2, d=64, ff=256, n_head=4, nkv_swa=2, nkv_full=1, hd_swa=32, hd_full=64,
             window=128, swa_pattern=[True, False])
DRAFT_ROWS = 4096        # the drafter's candidate tokens (its head's nonzero rows)
# Its centroid-masked head, derived after training (centroid_head.py): the candidates cut into
# DRAFT_ROWS / HEAD_CLUSTER clusters, N_VOCAB / HEAD_CLUSTER centroids, HEAD_TOP_K clusters
# scored per draft step: 512 centroid rows + 512 token rows (the 32-of-2048 layout read 6144).
HEAD_CLUSTER, HEAD_TOP_K = 512, 1
DRAFT_STEPS_UNROLL = 3   # draft steps trained per position (n_draft starts at 3 in g4_generate)

torch.set_num_threads(args.threads)
torch.manual_seed(SEED)
os.makedirs(args.out, exist_ok=True)
logf = open(os.path.join(args.out, "train-log.txt"), "a")


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    logf.write(s + "\n")
    logf.flush()


# ---- data -----------------------------------------------------------------------------------
samples = [np.array(line.split(), dtype=np.int64) for line in open(args.ids) if line.strip()]
counts = np.bincount(np.concatenate(samples), minlength=N_VOCAB)
order = np.lexsort((np.arange(N_VOCAB), -counts))  # by count, then id: deterministic
rows = np.sort(order[:VOCAB_ROWS])                 # compact row r <-> Gemma id rows[r]
compact = np.full(N_VOCAB, -1, dtype=np.int64)
compact[rows] = np.arange(VOCAB_ROWS)
kept = [s for s in samples if (compact[s] >= 0).all()]
train = [s for i, s in enumerate(kept) if i % HOLDOUT_EVERY != 0]
held = [s for i, s in enumerate(kept) if i % HOLDOUT_EVERY == 0]
n_train_tok = sum(len(s) for s in train)
log("corpus: %d samples, %d kept (all tokens among the %d most frequent), %d train (%d tokens), "
    "%d held out" % (len(samples), len(kept), VOCAB_ROWS, len(train), n_train_tok, len(held)))
with open(os.path.join(args.out, "heldout.txt"), "w") as f:
    for s in held:
        f.write(" ".join(str(int(t)) for t in s) + "\n")

# unigram baseline on the held-out slice (train counts, add-one over the trained rows)
tc = np.bincount(compact[np.concatenate(train)], minlength=VOCAB_ROWS) + 1.0
hc = compact[np.concatenate(held)]
log("unigram perplexity on the held-out slice: %.1f" % math.exp(-np.log(tc[hc] / tc.sum()).mean()))


def batches(seed):
    """Endless packed [BATCH, SEQ + 1] windows of compact ids, shuffled per epoch."""
    g = np.random.default_rng(seed)
    epoch = 0
    while True:
        perm = g.permutation(len(train))
        stream = np.concatenate([compact[train[i]] for i in perm])
        n = (len(stream) - 1) // SEQ
        starts = g.permutation(n) * SEQ
        for b in range(0, n - BATCH + 1, BATCH):
            yield epoch, np.stack([stream[s:s + SEQ + 1] for s in starts[b:b + BATCH]])
        epoch += 1


LOG_UNUSED = math.log(N_VOCAB - VOCAB_ROWS)


def full_vocab_ce(logits, labels):
    """cross-entropy over the 262144-token vocabulary: the untrained rows all have logit 0."""
    z = torch.cat([logits, torch.full(logits.shape[:-1] + (1,), LOG_UNUSED)], -1)
    return F.cross_entropy(z.reshape(-1, z.shape[-1]), labels.reshape(-1))


def lr_at(step, total, peak, warm=50):
    if step < warm:
        return peak * (step + 1) / warm
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))


def run_phase(name, model, params, total, peak, loss_fn, seed, make_data=None):
    """Trains `params` for `total` steps; checkpoints every 25 steps (resumable)."""
    ck = os.path.join(args.out, "ckpt-%s.pt" % name)
    opt = torch.optim.AdamW(params, lr=peak, betas=(0.9, 0.98), weight_decay=0.0)
    step = 0
    if os.path.exists(ck):
        st = torch.load(ck)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        log("%s: resumed at step %d" % (name, step))
    data = (make_data or batches)(seed)
    for _ in range(step):  # the same batches as an uninterrupted run
        next(data)
    t0 = time.time()
    while step < total:
        epoch, b = next(data)
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step, total, peak)
        loss, info = loss_fn(torch.from_numpy(b))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 10 == 0 or step == total:
            log("%s step %d/%d epoch %d loss %.4f %s %.1f s" % (name, step, total, epoch, float(loss), info,
                                                                 time.time() - t0))
        if step % 25 == 0 or step == total:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, ck + ".tmp")
            os.replace(ck + ".tmp", ck)
    return model


# ---- target -----------------------------------------------------------------------------------
tcfg = gemma4.Config(**TARGET)
target = gemma4.Target(tcfg, n_rows=VOCAB_ROWS)
target.init_weights(torch.Generator().manual_seed(SEED), emb_std=1.0 / math.sqrt(tcfg.d))


def target_loss(b):
    hN, _, _ = target(b[:, :-1])
    loss = full_vocab_ce(target.logits(hN), b[:, 1:])
    return loss, "ppl %.1f" % math.exp(float(loss))


run_phase("target", target, list(target.parameters()), args.target_steps, 3e-3, target_loss, SEED)
target.eval()
for p in target.parameters():
    p.requires_grad_(False)


def heldout_ppl():
    nll, n = 0.0, 0
    with torch.no_grad():
        for s in held:
            x = torch.from_numpy(compact[s])[None]
            hN, _, _ = target(x[:, :-1])
            nll += float(full_vocab_ce(target.logits(hN), x[:, 1:])) * (len(s) - 1)
            n += len(s) - 1
    return math.exp(nll / n)


log("target: held-out perplexity %.2f" % heldout_ppl())

# ---- drafter ----------------------------------------------------------------------------------
# The drafter learns on what it will see: the target's own greedy continuations of training
# questions (prompt = a sample up to its answer start, then ROLLOUT greedy tokens), so the
# token fed to every draft step is the target's greedy token and K/V come from its own text.
CHANNEL_END = 101  # <channel|>: the answer starts after it
ROLLOUT, N_PROMPTS, RB = 24, 384, 32


def make_rollouts(name="rollouts.pt", source=None, seed=SEED + 5):
    """Greedy target continuations of N_PROMPTS questions drawn (seeded) from `source` (the
    training samples by default), cached in OUTDIR/name."""
    path = os.path.join(args.out, name)
    if os.path.exists(path):
        return torch.load(path)
    source = train if source is None else source
    g = np.random.default_rng(seed)
    ce = compact[CHANNEL_END]
    prompts = []
    for i in g.permutation(len(source))[:N_PROMPTS]:
        s = compact[source[i]]
        w = np.nonzero(s == ce)[0]
        if len(w):
            prompts.append(s[: w[0] + 1])
    by_len = {}
    for p in prompts:
        by_len.setdefault(len(p), []).append(p)
    out = []
    t0 = time.time()
    with torch.no_grad():
        for L in sorted(by_len):
            group = by_len[L]
            for k in range(0, len(group), RB):
                x = torch.from_numpy(np.stack(group[k:k + RB]))
                for _ in range(ROLLOUT):
                    hN, _, _ = target(x)
                    nxt = target.logits(hN[:, -1]).argmax(-1)
                    x = torch.cat([x, nxt[:, None]], 1)
                out.append(x)
    log("%s: %d greedy continuations of %d tokens in %.0f s" % (name[:-3], sum(len(x) for x in out),
                                                                 ROLLOUT, time.time() - t0))
    torch.save(out, path)
    return out


rollouts = make_rollouts()


def rollout_batches(seed):
    g = np.random.default_rng(seed)
    epoch = 0
    while True:
        for i in g.permutation(len(rollouts)):
            yield epoch, rollouts[i].numpy()
        epoch += 1


# its head: the DRAFT_ROWS tokens the target predicts most often on the training data
with torch.no_grad():
    pc = np.zeros(VOCAB_ROWS, dtype=np.int64)
    data = batches(SEED + 7)
    for _ in range(20):
        _, b = next(data)
        hN, _, _ = target(torch.from_numpy(b[:, :-1]))
        pc += np.bincount(target.logits(hN).argmax(-1).reshape(-1).numpy(), minlength=VOCAB_ROWS)
    for x in rollouts:
        pc += np.bincount(x.reshape(-1).numpy(), minlength=VOCAB_ROWS)
d_order = np.lexsort((np.arange(VOCAB_ROWS), -(pc * 1000000 + tc.astype(np.int64))))
d_rows = np.sort(d_order[:DRAFT_ROWS])     # compact target rows the drafter can propose
d_index = np.full(VOCAB_ROWS, -100, dtype=np.int64)  # -100: ignored label
d_index[d_rows] = np.arange(DRAFT_ROWS)

dcfg = gemma4.Config(**DRAFT)
drafter = gemma4.Drafter(dcfg, tcfg, n_rows=DRAFT_ROWS)
drafter.init_weights(torch.Generator().manual_seed(SEED + 1))
# A hinge keeps the drafter's query xn on the positive side of one learned direction (how the
# first exported head, a shared centroid for all candidate clusters, stayed above the zero
# clusters). The exported head is now derived below (centroid_head.py); the term stays so that
# the drafter trains exactly as before (same checkpoint, same weights).
drafter.centroid = torch.nn.Parameter(torch.randn(dcfg.d, generator=torch.Generator().manual_seed(SEED + 2)))
d_params = list(drafter.parameters())


def draft_loss(b):
    """DRAFT_STEPS_UNROLL chained draft steps from every position p: query at P = p + 1 over
    target keys <= p; step j reads the target's greedy token for position p + j and predicts
    the one for p + j + 1 (the tokens a greedy run accepts)."""
    x = b[:, :-1]
    T = x.shape[1]
    with torch.no_grad():
        hN, kv, _ = target(x)
        g = target.logits(hN).argmax(-1)        # g[:, p]: target's greedy token for position p+1
    pos = torch.arange(T)
    h = hN
    loss, acc, n = 0.0, 0.0, 0
    hinge = 0.0
    for j in range(DRAFT_STEPS_UNROLL):
        Q = T - 1 - j                             # queries p = 0 .. T-2-j
        tok = g[:, j:j + Q]                       # input token: greedy for position p + 1 + j
        lab = torch.from_numpy(d_index)[g[:, j + 1:j + 1 + Q]]
        e = target.embed(tok)
        xn, h_next = drafter.step(e, h[:, :Q], kv, pos[:Q] + 1, pos)
        lg = drafter.logits(xn)
        loss = loss + F.cross_entropy(lg.reshape(-1, DRAFT_ROWS), lab.reshape(-1), ignore_index=-100)
        hinge = hinge + F.relu(1.0 - xn @ drafter.centroid).mean()
        m = lab >= 0
        acc += float(((lg.argmax(-1) == lab) & m).sum())
        n += int(m.sum())
        h = h_next
    return loss / DRAFT_STEPS_UNROLL + hinge, "match %.3f hinge %.3f" % (acc / max(n, 1), float(hinge))


run_phase("drafter", drafter, d_params, args.draft_steps, 3e-3, draft_loss, SEED + 3, rollout_batches)

# ---- the drafter's centroid-masked head (centroid_head.py) -------------------------------------
drafter.eval()
for p in drafter.parameters():
    p.requires_grad_(False)
held_rollouts = make_rollouts("rollouts-heldout.pt", held, SEED + 9)
t0 = time.time()
head_assign, head_cen, _ = centroid_head.derive(
    drafter.tok_embd.detach().numpy(),
    centroid_head.query_vectors(target, drafter, rollouts, DRAFT_STEPS_UNROLL),
    centroid_head.query_vectors(target, drafter, held_rollouts, DRAFT_STEPS_UNROLL),
    HEAD_CLUSTER, N_VOCAB, SEED + 11, log=log)
log("centroid head derived in %.0f s (top-%d of %d clusters)" % (time.time() - t0, HEAD_TOP_K,
                                                                  N_VOCAB // HEAD_CLUSTER))

# ---- export -----------------------------------------------------------------------------------
vkvs, vraw, _ = read_gguf(args.vocab)
tok_kvs = [v for k, v in vraw.items() if k.startswith("tokenizer.")]


def model_kvs(arch, cfg, name, n_params, extra=()):
    A = arch + "."
    swa = cfg.swa
    kv = [kv_str("general.architecture", arch), kv_str("general.type", "model"),
          kv_str("general.name", name), kv_str("general.size_label", "%.1fM" % (n_params / 1e6)),
          kv_u32(A + "block_count", cfg.n_layer), kv_u32(A + "context_length", 8192),
          kv_u32(A + "embedding_length", cfg.d), kv_u32(A + "feed_forward_length", cfg.ff),
          kv_u32(A + "attention.head_count", cfg.n_head),
          kv_arr_i32(A + "attention.head_count_kv", [cfg.nkv(i) for i in range(cfg.n_layer)]),
          kv_f32(A + "rope.freq_base", cfg.rope_full), kv_f32(A + "rope.freq_base_swa", cfg.rope_swa),
          kv_f32(A + "attention.layer_norm_rms_epsilon", 1e-6),
          kv_u32(A + "attention.key_length", cfg.hd_full), kv_u32(A + "attention.value_length", cfg.hd_full),
          kv_u32("general.file_type", 0), kv_f32(A + "final_logit_softcapping", 30.0),
          kv_u32(A + "attention.sliding_window", cfg.window),
          kv_u32(A + "attention.shared_kv_layers", cfg.n_layer if arch != "gemma4" else 0),
          kv_u32(A + "embedding_length_per_layer_input", 0),
          kv_arr_bool(A + "attention.sliding_window_pattern", swa),
          kv_u32(A + "attention.key_length_swa", cfg.hd_swa), kv_u32(A + "attention.value_length_swa", cfg.hd_swa),
          kv_u32(A + "rope.dimension_count", cfg.hd_full), kv_u32(A + "rope.dimension_count_swa", cfg.hd_swa)]
    kv += list(extra)
    kv.append(kv_u32("general.quantization_version", 2))
    return kv + tok_kvs


def n_params(tensors):
    return sum(int(np.prod(a.shape)) for _, a in tensors)


E = np.zeros((N_VOCAB, tcfg.d), dtype=np.float32)
E[rows] = target.tok_embd.detach().numpy()
tt = target.gguf_tensors(E)
write_gguf(os.path.join(args.out, "target-f32.gguf"),
           model_kvs("gemma4", tcfg, "g4plug tiny Gemma 4 (WordNet, trained)", n_params(tt)), tt)

Ea = np.zeros((N_VOCAB, dcfg.d), dtype=np.float32)
d_ids = rows[d_rows]                      # Gemma ids of the drafter's tokens (ascending)
Ea[d_ids] = drafter.tok_embd.detach().numpy()
rest = np.setdiff1d(np.arange(N_VOCAB), d_ids)
# cluster-major: the candidate clusters first (ids ascending within each), then the zero rows
ordering = np.concatenate([d_ids[head_assign == c] for c in range(len(head_cen))] + [rest]).astype(np.int32)
cent = np.zeros((N_VOCAB // HEAD_CLUSTER, dcfg.d), dtype=np.float32)
cent[: len(head_cen)] = head_cen
dt = drafter.gguf_tensors(Ea, extra=[("masked_embd_centroids.weight", cent), ("masked_embd_ordering", ordering)])
write_gguf(os.path.join(args.out, "assistant-f32.gguf"),
           model_kvs("gemma4-assistant", dcfg, "g4plug tiny Gemma 4 assistant (WordNet, trained)", n_params(dt),
                     extra=[kv_u32("gemma4-assistant.embedding_length_out", tcfg.d),
                            kv_u32("gemma4-assistant.nextn_predict_layers", dcfg.n_layer),
                            kv_u32("gemma4-assistant.centroid_top_k", HEAD_TOP_K)]), dt)
log("exported %s/target-f32.gguf and assistant-f32.gguf" % args.out)
