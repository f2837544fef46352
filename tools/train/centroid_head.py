"""The drafter's centroid-masked head (HF `use_ordered_embeddings`), derived from its trained
full head after training, deterministically.

A draft step scores C centroids, keeps the top K clusters and computes exact logits only for
their tokens (C clusters of V/C tokens each, listed cluster-major by `masked_embd_ordering`).
The drafter can only propose its DRAFT_ROWS candidate tokens (train.py; every other row of its
head is zero), so those are cut into DRAFT_ROWS / (V/C) "real" clusters and the zero rows fill
the other clusters, whose centroids are 0:

  1. cluster: balanced spherical k-means of the candidates' head rows (every real cluster gets
     exactly V/C tokens; greedy capacity-bounded assignment, fixed seed, ties by index);
  2. centroids: started at the cluster means, then trained briefly (full-batch Adam) so that the
     cluster holding the drafter's own argmax token scores highest, on the query vectors xn the
     trained drafter produces on its training rollouts -- cross-entropy over the real clusters
     plus one logit 0 standing for the zero clusters, so real clusters score above them;
  3. coverage: how often the exact argmax is inside the top K clusters as g4plug selects them
     (all C scores, ties to the lowest cluster), on rollouts of held-out questions.

numpy for the clustering, torch for the query vectors and the brief training (CPU, the thread
count train.py sets).
"""
import numpy as np
import torch
import torch.nn.functional as F


def balanced_kmeans(E, n_clusters, seed, iters=20):
    """E [N, d] rows (N = n_clusters * size) -> assign [N] cluster ids, each used N / n_clusters
    times. Spherical: rows and centres unit-normalised, similarity = dot product."""
    N = E.shape[0]
    size = N // n_clusters
    assert size * n_clusters == N
    X = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    g = np.random.default_rng(seed)
    cen = X[np.sort(g.choice(N, n_clusters, replace=False))]
    assign = np.full(N, -1, dtype=np.int64)
    for _ in range(iters):
        S = X @ cen.T                                     # [N, n_clusters]
        # greedy: the best (token, cluster) pairs first; a cluster closes when full
        flat = np.lexsort((np.arange(S.size), -S.reshape(-1)))
        new = np.full(N, -1, dtype=np.int64)
        room = np.full(n_clusters, size, dtype=np.int64)
        left = N
        for f in flat:
            t, c = divmod(int(f), n_clusters)
            if new[t] < 0 and room[c] > 0:
                new[t] = c
                room[c] -= 1
                left -= 1
                if left == 0:
                    break
        if (new == assign).all():
            break
        assign = new
        for c in range(n_clusters):
            m = X[assign == c].sum(0)
            cen[c] = m / max(np.linalg.norm(m), 1e-12)
    return assign


@torch.no_grad()
def query_vectors(target, drafter, rollouts, steps):
    """The drafter's final-normed query xn for `steps` chained draft steps from every position
    of every rollout (as train.py's draft_loss feeds it: the target's greedy tokens and hidden
    state) -> list per rollout batch of [n, d_a] tensors."""
    out = []
    for x in rollouts:
        x = x[:, :-1]
        T = x.shape[1]
        hN, kv, _ = target(x)
        g = target.logits(hN).argmax(-1)
        pos = torch.arange(T)
        h = hN
        xs = []
        for j in range(steps):
            Q = T - 1 - j
            e = target.embed(g[:, j:j + Q])
            xn, h = drafter.step(e, h[:, :Q], kv, pos[:Q] + 1, pos)
            xs.append(xn.reshape(-1, xn.shape[-1]))
        out.append(torch.cat(xs))
    return out


def cluster_scores(xn, cen, n_zero):
    """Scores of every cluster as g4plug computes them: the real ones, then n_zero zeros."""
    s = xn @ cen.t()
    return torch.cat([s, torch.zeros(s.shape[0], n_zero, dtype=s.dtype)], 1)


def coverage(xn, cen, labels, n_zero, k):
    """Fraction of rows whose label cluster is among the top k of all clusters (ties: lowest)."""
    s = cluster_scores(xn, cen, n_zero)
    # rank of the label: clusters scoring higher, plus equal ones with a lower index
    sl = s.gather(1, labels[:, None])
    idx = torch.arange(s.shape[1])[None, :]
    better = (s > sl) | ((s == sl) & (idx < labels[:, None]))
    return float((better.sum(1) < k).double().mean())


def train_centroids(xn, labels, cen0, steps, lr, seed):
    """Full-batch Adam on cross-entropy over [real cluster scores, 0] (the 0 stands for every
    zero cluster; it is never the label, so real clusters are pushed above it)."""
    torch.manual_seed(seed)
    cen = torch.nn.Parameter(cen0.clone())
    opt = torch.optim.Adam([cen], lr=lr)
    for _ in range(steps):
        s = cluster_scores(xn, cen, 1)
        loss = F.cross_entropy(s, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return cen.detach(), float(loss)


def derive(E, xn_fit, xn_eval, cluster_size, n_vocab, seed, steps=300, lr=0.01, log=print):
    """E [R, d] the drafter's trained candidate rows (R = its DRAFT_ROWS); xn_fit / xn_eval
    query vectors (query_vectors) to train the centroids on / to measure coverage on.
    -> (assign [R] real-cluster id per candidate, cen [R / cluster_size, d] the trained
    centroids, {k: coverage on xn_eval}) for clusters of cluster_size tokens."""
    R = E.shape[0]
    n_real = R // cluster_size
    n_zero = n_vocab // cluster_size - n_real
    assign = balanced_kmeans(E, n_real, seed)
    Et = torch.from_numpy(E.astype(np.float32))
    A = torch.from_numpy(assign)
    xf, xe = torch.cat(xn_fit), torch.cat(xn_eval)
    lf, le = A[(xf @ Et.t()).argmax(1)], A[(xe @ Et.t()).argmax(1)]
    # start: the cluster means, each scaled to the rows' mean norm
    cen0 = torch.stack([Et[A == c].mean(0) for c in range(n_real)])
    cen0 = cen0 / cen0.norm(dim=1, keepdim=True).clamp_min(1e-12) * float(Et.norm(dim=1).mean())
    cen, loss = train_centroids(xf, lf, cen0, steps, lr, seed)
    ks = [k for k in (1, 2, 4, 8, 16, 32) if k <= n_real]
    table = {k: coverage(xe, cen, le, n_zero, k) for k in ks}
    used = len(torch.unique(le))
    log("centroid head: %d real clusters of %d tokens (+%d zero clusters); centroids fitted on %d query "
        "vectors (loss %.4f); on %d held-out ones (argmax in %d clusters) the exact argmax is in the top k "
        "clusters: %s" % (n_real, cluster_size, n_zero, len(xf), loss, len(xe), used,
                          ", ".join("k=%d %.4f" % kv for kv in table.items())))
    return assign, cen.numpy(), table
