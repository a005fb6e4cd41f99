"""References for Attention and RotaryEmbedding: one query row / one token at a time in float64, with the
visibility rules of the ONNX operator doc spelled out per (query, key) pair."""

import math

import numpy as np


def _head_vectors(t, heads, b, h, seq_axis_len):
    """Rows of head h in batch b of a 3-D [B, S, H*D] or 4-D [B, H, S, D] tensor, as [S, D]."""
    t = np.asarray(t, np.float64)
    if t.ndim == 4:
        return t[b, h]
    d = t.shape[2] // heads
    return np.stack([t[b, s, h * d:(h + 1) * d] for s in range(seq_axis_len)])


def _mask_value(mask, b, h, i, j):
    """attn_mask at (b, h, i, j), right-aligned broadcasting; None past its (short) last axis."""
    if j >= mask.shape[-1]:
        return None
    full = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    return full[tuple(0 if n == 1 else k for n, k in zip(full.shape, (b, h, i, j)))]


def _attention(attrs, x):
    x = list(x) + [None] * (7 - len(x))
    q, k, v, mask, past_k, past_v, nonpad = x
    three_d = np.ndim(q) == 3
    B = q.shape[0]
    hq = attrs["q_num_heads"] if three_d else q.shape[1]
    hkv = attrs["kv_num_heads"] if three_d else k.shape[1]
    sq, skv = (q.shape[1], k.shape[1]) if three_d else (q.shape[2], k.shape[2])
    past = 0 if past_k is None else past_k.shape[2]
    total = past + skv
    mode = attrs.get("qk_matmul_output_mode", 0)
    softcap = attrs.get("softcap", 0.0)
    left, right = attrs.get("left_window_size", -1), attrs.get("right_window_size", -1)
    causal = attrs.get("is_causal", 0)
    mask = None if mask is None else np.asarray(mask)

    keys, values = {}, {}
    for b in range(B):
        for g in range(hkv):
            kk, vv = _head_vectors(k, hkv, b, g, skv), _head_vectors(v, hkv, b, g, skv)
            if past:
                kk = np.concatenate([np.asarray(past_k, np.float64)[b, g], kk])
                vv = np.concatenate([np.asarray(past_v, np.float64)[b, g], vv])
            keys[b, g], values[b, g] = kk, vv
    d, dv = keys[0, 0].shape[1], values[0, 0].shape[1]
    scale = attrs.get("scale", 1 / math.sqrt(d))

    y = np.zeros((B, hq, sq, dv))
    qk = np.zeros((B, hq, sq, total))
    for b in range(B):
        offset = past if past else (int(nonpad[b]) - sq if nonpad is not None else 0)
        for h in range(hq):
            g = h // (hq // hkv)   # query heads share KV heads in consecutive runs
            queries = _head_vectors(q, hq, b, h, sq)
            for i in range(sq):
                pos = offset + i
                raw = np.array([sum(queries[i] * keys[b, g][j]) * scale for j in range(total)])
                capped = softcap * np.tanh(raw / softcap) if softcap > 0 else raw
                bias = np.zeros(total)
                for j in range(total):
                    visible = True
                    if mask is not None:
                        m = _mask_value(mask, b, h, i, j)
                        if m is None or (mask.dtype == bool and not m):
                            visible = False
                        elif mask.dtype != bool:
                            bias[j] += float(m)
                    if causal and j > pos:
                        visible = False
                    if left >= 0 and pos - j > left:
                        visible = False
                    if right >= 0 and j - pos > right:
                        visible = False
                    if nonpad is not None and j >= int(nonpad[b]):
                        visible = False
                    if not visible:
                        bias[j] = -math.inf
                logits = capped + bias
                if np.all(np.isneginf(bias)):
                    probs = np.zeros(total)
                else:
                    e = np.array([math.exp(a - logits.max()) if a != -math.inf else 0.0 for a in logits])
                    probs = e / e.sum()
                y[b, h, i] = sum(probs[j] * values[b, g][j] for j in range(total))
                qk[b, h, i] = (raw, capped, logits, probs)[mode]
    if three_d:
        y = y.transpose(0, 2, 1, 3).reshape(B, sq, hq * dv)
    present_k = np.stack([np.stack([keys[b, g] for g in range(hkv)]) for b in range(B)])
    present_v = np.stack([np.stack([values[b, g] for g in range(hkv)]) for b in range(B)])
    return [y, present_k, present_v, qk]


def _rope(attrs, x):
    v = np.asarray(x[0], np.float64)
    cos, sin = np.asarray(x[1], np.float64), np.asarray(x[2], np.float64)
    pos = None if len(x) < 4 or x[3] is None else np.asarray(x[3])
    four_d = v.ndim == 4
    B = v.shape[0]
    heads = v.shape[1] if four_d else attrs["num_heads"]
    S = v.shape[2] if four_d else v.shape[1]
    D = v.shape[3] if four_d else v.shape[2] // heads
    rot = attrs.get("rotary_embedding_dim", 0) or D
    half = rot // 2
    out = v.copy()
    for b in range(B):
        for s in range(S):
            c, sn = (cos[pos[b, s]], sin[pos[b, s]]) if pos is not None else (cos[b, s], sin[b, s])
            for h in range(heads):
                vec = v[b, h, s] if four_d else v[b, s, h * D:(h + 1) * D]
                new = vec.copy()
                for p in range(half):
                    # the rotated pair: (2p, 2p+1) interleaved, else (p, p + rot/2)
                    a, z = (2 * p, 2 * p + 1) if attrs.get("interleaved", 0) else (p, p + half)
                    new[a] = vec[a] * c[p] - vec[z] * sn[p]
                    new[z] = vec[a] * sn[p] + vec[z] * c[p]
                if four_d:
                    out[b, h, s] = new
                else:
                    out[b, s, h * D:(h + 1) * D] = new
    return [out]


REFERENCES = {"Attention": _attention, "RotaryEmbedding": _rope}
