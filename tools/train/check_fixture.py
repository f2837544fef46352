#!/usr/bin/env python3
"""Proof that tools/train/gemma4.py is Gemma 4: loads the conformance fixtures
(shared/fixtures/gemma4/tiny-gemma4-unified-bf16.gguf + -assistant-bf16.gguf) and compares with
the transformers reference outputs (*.ref.gguf): every hidden state of the `text` and
`text_long` cases (max abs diff <= 1e-3), the greedy tokens, and the drafter's first round
(mtp.draft_calls_json at position 20; transformers' first round reads the prefill's row 0
hidden state and keys < 20, see tests/test_draft.c).

usage: check_fixture.py [FIXTURES_DIR]      exit 0 when everything matches
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gemma4  # noqa: E402
from gguf_io import read_gguf  # noqa: E402


def main():
    torch.set_num_threads(2)
    fx = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "../../../shared/fixtures")
    g = os.path.join(fx, "gemma4")
    kvs, _, ten = read_gguf(os.path.join(g, "tiny-gemma4-unified-bf16.gguf"))
    cfg = gemma4.config_from_kvs(kvs, "gemma4")
    tgt = gemma4.Target(cfg)
    tgt.load_gguf(ten)
    rkv, _, ref = read_gguf(os.path.join(g, "tiny-gemma4-unified.ref.gguf"))
    fails = 0
    with torch.no_grad():
        for case in ("text", "text_long"):
            ids = torch.tensor(np.array(rkv[case + ".input_ids"], dtype=np.int64))[None]
            hN, _, states = tgt(ids, want_states=True)
            want = ref[case + ".hidden_states"]  # [n_layer+1, T, d]
            got = torch.stack([s[0] for s in states]).numpy()
            err = float(np.abs(got - want).max())
            lg = tgt.logits(hN[0, -1:])
            nxt = int(lg.argmax())
            ok = err <= 1e-3 and nxt == int(rkv[case + ".greedy_next"])
            print("%-9s hidden states max |diff| %.2e, greedy next %d (want %d): %s" % (
                case, err, nxt, rkv[case + ".greedy_next"], "ok" if ok else "FAIL"))
            fails += not ok
        # greedy12 on the text case
        ids = list(np.array(rkv["text.input_ids"], dtype=np.int64))
        out = []
        for _ in range(12):
            hN, _, _ = tgt(torch.tensor(ids)[None])
            t = int(tgt.logits(hN[0, -1:]).argmax())
            out.append(t)
            ids.append(t)
        ok = out == [int(v) for v in rkv["text.greedy12"]]
        print("text      greedy12 %s" % ("ok" if ok else "FAIL %s" % out))
        fails += not ok

        # drafter, first round
        akv, _, aten = read_gguf(os.path.join(g, "tiny-gemma4-unified-assistant-bf16.gguf"))
        dcfg = gemma4.config_from_kvs(akv, "gemma4-assistant")
        dr = gemma4.Drafter(dcfg, cfg)
        dr.load_gguf(aten)
        mkv, _, _ = read_gguf(os.path.join(g, "tiny-gemma4-unified-assistant.ref.gguf"))
        prompt = [int(v) for v in mkv["mtp.prompt"]]
        greedy = [int(v) for v in mkv["mtp.greedy16"]]
        calls = json.loads(mkv["mtp.draft_calls_json"])
        T = len(prompt)
        round0 = [c["argmax"][0] for c in calls if c["pos"][0][0] == T]
        hN, kv, _ = tgt(torch.tensor(prompt)[None])
        h = hN[:, 0:1]  # transformers: the prefill's row 0
        tok = greedy[0]
        got = []
        for _ in round0:
            e = tgt.embed(torch.tensor([[tok]]))
            xn, h = dr.step(e, h, kv, torch.tensor([T]), torch.arange(T))
            tok = int(dr.logits(xn[0, 0]).argmax())
            got.append(tok)
        ok = got == round0
        print("drafter   first round (%d proposals at position %d): %s" % (
            len(round0), T, "ok" if ok else "FAIL %s vs %s" % (got, round0)))
        fails += not ok
        # plain greedy16 of the assistant fixture's target
        ids = list(prompt)
        out = []
        for _ in range(16):
            hN, _, _ = tgt(torch.tensor(ids)[None])
            t = int(tgt.logits(hN[0, -1:]).argmax())
            out.append(t)
            ids.append(t)
        ok = out == greedy
        print("target    mtp.greedy16 %s" % ("ok" if ok else "FAIL"))
        fails += not ok
    print("check_fixture: %s" % ("all match" if not fails else "%d FAILED" % fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
