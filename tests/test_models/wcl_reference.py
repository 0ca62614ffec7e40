"""Plain-loop references for the WCL losses (float64, one pair at a time).

Independent of csml_mm: the 1-NN graph is a double loop, the components come from a union-find,
and every loss term is written out from the formulas of the WCL paper (Zheng et al., ICCV 2021;
configs/wcl/README.md). ``grad_rows`` lets a test detach every row that a process would receive
from the others (no gradient through gathered features).
"""

import torch


def _normalise(z):
    return z.double() / z.double().norm(dim=1, keepdim=True)


def nn_component_labels(u):
    """Union-find labels of the undirected 1-NN graph (first maximum wins ties)."""
    n = u.shape[0]
    sim = (u.detach() @ u.detach().T).tolist()
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for i in range(n):
        best = None
        for j in range(n):
            if j != i and (best is None or sim[i][j] > sim[i][best]):
                best = j
        ri, rb = find(i), find(best)
        if ri != rb:
            parent[max(ri, rb)] = min(ri, rb)
    return [find(i) for i in range(n)]


def _candidates(u, grad_rows):
    if grad_rows is None:
        return [u[a] for a in range(u.shape[0])]
    return [u[a] if a in grad_rows else u[a].detach() for a in range(u.shape[0])]


def supcon_row(u, cand, i, labels, t, include_self=False):
    """-(1/|P|) sum_p [s_ip/t - log sum_{a != i} exp(s_ia/t)], P = same label, p != i."""
    n = u.shape[0]
    others = [a for a in range(n) if include_self or a != i]
    logits = {a: torch.dot(u[i], cand[a]) / t for a in others}
    lse = torch.logsumexp(torch.stack([logits[a] for a in others]), dim=0)
    pos = [a for a in range(n) if a != i and labels[a] == labels[i]]
    return -sum(logits[p] - lse for p in pos) / len(pos)


def graph_loss(z1, z2, t=0.1, anchors=None, grad_rows=None, swap=True, include_self=False):
    """0.5 [SupCon(view 1 | labels of view 2) + SupCon(view 2 | labels of view 1)]."""
    u1, u2 = _normalise(z1), _normalise(z2)
    y1, y2 = nn_component_labels(u1), nn_component_labels(u2)
    anchors = list(range(u1.shape[0])) if anchors is None else list(anchors)
    total = 0
    for u, y in ((u1, y2 if swap else y1), (u2, y1 if swap else y2)):
        cand = _candidates(u, grad_rows)
        rows = [supcon_row(u, cand, i, y, t, include_self) for i in anchors]
        total = total + sum(rows) / len(rows)
    return 0.5 * total, (y1, y2)


def nt_xent(z1, z2, t=0.1, anchors=None, grad_rows=None):
    """SimCLR's NT-Xent over 2B views: -log exp(s_ap/t) / sum_{c != a} exp(s_ac/t).

    Rows are ordered [view 1 of images 0..B-1, view 2 of images 0..B-1]; ``anchors``
    and ``grad_rows`` index that order.
    """
    u = torch.cat([_normalise(z1), _normalise(z2)])
    n = u.shape[0]
    b = n // 2
    cand = _candidates(u, grad_rows)
    anchors = list(range(n)) if anchors is None else list(anchors)
    total = 0
    for a in anchors:
        p = a + b if a < b else a - b
        denom = sum(torch.exp(torch.dot(u[a], cand[c]) / t) for c in range(n) if c != a)
        total = total - torch.log(torch.exp(torch.dot(u[a], cand[p]) / t) / denom)
    return total / len(anchors)


def instance_supcon(z, image_ids, t=0.1):
    """SupCon with the image as label over all rows of ``z`` (the multi-crop instance term)."""
    u = _normalise(z)
    cand = _candidates(u, None)
    rows = [supcon_row(u, cand, i, list(image_ids), t) for i in range(u.shape[0])]
    return sum(rows) / len(rows)


def select_small_crops(z1, z2, small, k):
    """For image i, the k small crops s (of S) with the largest mean cosine to z1_i, z2_i."""
    u1, u2 = _normalise(z1), _normalise(z2)
    out = []
    for i in range(u1.shape[0]):
        scores = []
        for s in range(len(small)):
            v = _normalise(small[s])[i]
            scores.append(0.5 * (float(torch.dot(v, u1[i])) + float(torch.dot(v, u2[i]))))
        out.append(sorted(range(len(small)), key=lambda s: -scores[s])[:k])
    return out
