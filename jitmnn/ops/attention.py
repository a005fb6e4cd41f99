"""Attention (opsets 23-25) and RotaryEmbedding (opset 23), on numpy.

Attention is batched matrix products around a row softmax, which np.matmul already does at BLAS speed, so
its runtime is the numpy implementation below (no Numba kernel). Arithmetic stays in the inputs' dtype at
the points where ONNX's function body casts (Q and K scaled by sqrt(scale) in T, the products rounded to
T, softmax in `softmax_precision`, probabilities cast back to T), so float16/bfloat16 models round where
the spec says. Grouped-query attention reshapes Q to [B, kv_heads, group, Sq, D] against an unrepeated K,
so K and V are never copied per query head."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from . import _util as U
from .conv import gemm_cost_us
from .normalization import _STASH_DTYPES
from .registry import Algorithm, OpDef, register_algorithm, register_op

QK_RAW, QK_SOFTCAPPED, QK_BIASED, QK_PROBABILITIES = 0, 1, 2, 3


# ----- Attention ---------------------------------------------------------------------------------------
def _heads(node, q, k, v):
    """(q_heads, kv_heads, head_size, v_head_size) from 3-D or 4-D shapes, checked."""
    if not (len(q) == len(k) == len(v)) or len(q) not in (3, 4):
        raise ShapeError(f"Attention Q, K, V must all be 3-D or all 4-D, got {tuple(q)}, {tuple(k)}, {tuple(v)}")
    if len(q) == 3:
        if "q_num_heads" not in node.attrs or "kv_num_heads" not in node.attrs:
            raise ShapeError("Attention with 3-D inputs needs the q_num_heads and kv_num_heads attributes")
        hq, hkv = int(node.attrs["q_num_heads"]), int(node.attrs["kv_num_heads"])
        if hq <= 0 or hkv <= 0 or q[2] % hq or k[2] % hkv or v[2] % hkv:
            raise ShapeError(f"Attention hidden sizes {q[2]}, {k[2]}, {v[2]} are not multiples of "
                             f"q_num_heads={hq} / kv_num_heads={hkv}")
        d, dk, dv = q[2] // hq, k[2] // hkv, v[2] // hkv
        seq_k, seq_v = k[1], v[1]
    else:
        hq, hkv, d, dk, dv = q[1], k[1], q[3], k[3], v[3]
        if v[1] != hkv:
            raise ShapeError(f"Attention K has {hkv} heads but V has {v[1]}")
        seq_k, seq_v = k[2], v[2]
    if hkv <= 0 or hq % hkv:
        raise ShapeError(f"Attention q_num_heads={hq} is not a multiple of kv_num_heads={hkv}")
    if d != dk:
        raise ShapeError(f"Attention Q head size {d} differs from K head size {dk}")
    if q[0] != k[0] or q[0] != v[0] or seq_k != seq_v:
        raise ShapeError(f"Attention batch or K/V sequence lengths disagree: {tuple(q)}, {tuple(k)}, {tuple(v)}")
    return int(hq), int(hkv), int(d), int(dv)


def _mode(node) -> int:
    mode = int(node.attrs.get("qk_matmul_output_mode", QK_RAW))
    if mode not in (QK_RAW, QK_SOFTCAPPED, QK_BIASED, QK_PROBABILITIES):
        raise ShapeError(f"Attention qk_matmul_output_mode={mode} is not one of 0, 1, 2, 3")
    return mode


def _softmax_dtype(node, t):
    code = node.attrs.get("softmax_precision")
    if code is None:
        return np.dtype(t)
    if int(code) not in _STASH_DTYPES:
        raise ShapeError(f"Attention softmax_precision={code} is not one of 1, 10, 11, 16")
    if int(code) == 16:
        import ml_dtypes  # noqa: F401  (registers bfloat16 with numpy)
    return np.dtype(_STASH_DTYPES[int(code)])


def _infer_attention(node, shapes, dtypes, consts, all_outputs=False):
    q, k, v = shapes[:3]
    if q is None or k is None or v is None:
        raise ShapeError("Attention takes Q, K and V")
    hq, hkv, d, dv = _heads(node, q, k, v)
    _mode(node)
    _softmax_dtype(node, dtypes[0])
    batch, seq_q, seq_kv = q[0], q[-2] if len(q) == 4 else q[1], k[-2] if len(k) == 4 else k[1]
    has = [i < len(shapes) and shapes[i] is not None for i in range(7)]
    if has[4] != has[5]:
        raise ShapeError("Attention past_key and past_value must be given together")
    past = 0
    if has[4]:
        pk, pv = shapes[4], shapes[5]
        if len(pk) != 4 or tuple(pk[:2]) != (batch, hkv) or pk[3] != d or len(pv) != 4 \
                or tuple(pv[:3]) != tuple(pk[:3]) or pv[3] != dv:
            raise ShapeError(f"Attention past_key {tuple(pk)} / past_value {tuple(pv)} do not match "
                             f"[{batch}, {hkv}, past, {d}] / [.., {dv}]")
        past = int(pk[2])
        if has[6]:
            raise ShapeError("Attention nonpad_kv_seqlen cannot be combined with past_key/past_value")
    total = past + seq_kv
    if has[3]:
        m = tuple(shapes[3])
        if len(m) > 4 or (m and m[-1] > total):
            raise ShapeError(f"Attention attn_mask {m} is longer than the {total} keys")
        try:
            np.broadcast_shapes(m[:-1] + (total,), (batch, hq, seq_q, total))
        except ValueError:
            raise ShapeError(f"Attention attn_mask {m} does not broadcast to {(batch, hq, seq_q, total)}") from None
    if has[6] and tuple(shapes[6]) != (batch,):
        raise ShapeError(f"Attention nonpad_kv_seqlen has shape {tuple(shapes[6])}, expected ({batch},)")
    t = dtypes[0]
    y = (batch, hq, seq_q, dv) if len(q) == 4 else (batch, seq_q, hq * dv)
    # All four outputs are listed (the cost model reads the last); the node gets the ones it names.
    outs = [(y, t), ((batch, hkv, total, d), t), ((batch, hkv, total, dv), t), ((batch, hq, seq_q, total), t)]
    return outs if all_outputs else outs[:max(1, len(node.outputs))]


def _to_heads(x, heads):
    """[B, S, H*D] -> [B, H, S, D] (a 4-D input is already so)."""
    if x.ndim == 4:
        return x
    b, s, hidden = x.shape
    return x.reshape(b, s, heads, hidden // heads).transpose(0, 2, 1, 3)


def _matmul(a, b, t):
    """a @ b rounded to t (numpy promotes bfloat16 products to float32)."""
    r = np.matmul(a, b)
    return r if r.dtype == t else r.astype(t)


def _visible_bias(node, t, mask, seq_q, total, past, nonpad):
    """The additive bias [.., Sq, total] (0 where a key is visible, -inf where masked; a float mask adds its
    values): the mask padded to `total` keys, the bottom-right causal frontier, the opset-25 window, the
    padding past nonpad_kv_seqlen. Each term broadcasts right-aligned, per-batch terms as [B, 1, Sq, T]."""
    neg_inf, zero = t.type(-np.inf), t.type(0)
    bias = np.zeros((seq_q, total), t)
    if mask is not None:
        if mask.ndim == 0:
            mask = mask.reshape(1)
        short = total - mask.shape[-1]
        if short:
            pad = [(0, 0)] * (mask.ndim - 1) + [(0, short)]
            mask = np.pad(mask, pad, constant_values=False if mask.dtype == np.bool_ else -np.inf)
        bias = bias + (np.where(mask, zero, neg_inf) if mask.dtype == np.bool_ else mask.astype(t))
    # Absolute position of query i is offset + i: past length (internal cache), nonpad - Sq per batch
    # (external cache), or 0.
    if nonpad is not None and past == 0:
        offset = (np.asarray(nonpad, np.int64).reshape(-1) - seq_q).reshape(-1, 1, 1, 1)
    else:
        offset = np.int64(past)
    # distance = (query position) - (key index), shape [Sq, T] or [B, 1, Sq, T]
    distance = offset + np.arange(seq_q).reshape(-1, 1) - np.arange(total).reshape(1, -1)
    allowed = np.ones(distance.shape, bool)
    if int(node.attrs.get("is_causal", 0)):
        allowed &= distance >= 0
    left, right = int(node.attrs.get("left_window_size", -1)), int(node.attrs.get("right_window_size", -1))
    for name, size in (("left_window_size", left), ("right_window_size", right)):
        if size < -1:
            raise ShapeError(f"Attention {name}={size} must be -1 or non-negative")
    if left >= 0:
        allowed &= distance <= left
    if right >= 0:
        allowed &= -distance <= right
    if not allowed.all():
        bias = bias + np.where(allowed, zero, neg_inf)
    if nonpad is not None:
        keep = np.arange(total).reshape(1, -1) < np.asarray(nonpad, np.int64).reshape(-1, 1)
        bias = bias + np.where(keep, zero, neg_inf).reshape(-1, 1, 1, total)
    return bias


def _softmax_rows(x):
    """Stable softmax over the last axis; an all -inf row gives zeros instead of 0/0."""
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isneginf(m), x.dtype.type(0), m)
    e = np.exp(x - m)
    s = np.sum(e, axis=-1, keepdims=True)
    return e / np.where(s == 0, x.dtype.type(1), s)


def _ref_attention(node, x):
    x = list(x) + [None] * (7 - len(x))
    q, k, v, mask, past_k, past_v, nonpad = x[:7]
    t = np.dtype(q.dtype)
    hq, hkv, d, dv = _heads(node, q.shape, k.shape, v.shape)
    mode = _mode(node)
    q4, k4, v4 = _to_heads(q, hq), _to_heads(k, hkv), _to_heads(v, hkv)
    past = 0
    if past_k is not None:
        past = past_k.shape[2]
        k4 = np.concatenate([past_k.astype(t), k4], axis=2)
        v4 = np.concatenate([past_v.astype(t), v4], axis=2)
    batch, _, seq_q, _ = q4.shape
    total = k4.shape[2]

    scale = node.attrs.get("scale")
    scale = 1.0 / np.sqrt(d) if scale is None else float(scale)
    root = t.type(np.sqrt(scale))  # Q and K each take sqrt(scale), so large logits do not overflow in T
    group = hq // hkv
    qg = (q4 * root).reshape(batch, hkv, group, seq_q, d)
    kt = (k4 * root).transpose(0, 1, 3, 2)[:, :, None]                  # [B, Hkv, 1, D, T]
    raw = _matmul(qg, kt, t).reshape(batch, hq, seq_q, total)

    softcap = float(node.attrs.get("softcap", 0.0))
    capped = (np.tanh(raw / t.type(softcap)) * t.type(softcap)).astype(t) if softcap > 0 else raw
    bias = _visible_bias(node, t, mask, seq_q, total, past, nonpad)
    logits = (capped + bias).astype(t)
    probs = _softmax_rows(logits.astype(_softmax_dtype(node, t)))
    # A query row with no visible key outputs zeros (decided on the bias, not on possibly-NaN logits).
    dead = np.isneginf(np.max(bias, axis=-1, keepdims=True))
    probs = np.where(dead, probs.dtype.type(0), probs).astype(t)

    y = _matmul(probs.reshape(batch, hkv, group, seq_q, total), v4[:, :, None], t).reshape(batch, hq, seq_q, dv)
    if q.ndim == 3:
        y = y.transpose(0, 2, 1, 3).reshape(batch, seq_q, hq * dv)
    qk = {QK_RAW: raw, QK_SOFTCAPPED: capped, QK_BIASED: logits, QK_PROBABILITIES: probs}[mode]
    qk = np.broadcast_to(qk, (batch, hq, seq_q, total))
    return [y, k4, v4, qk][:max(1, len(node.outputs))]


def _run_attention(packed, params, ins, outs, scratch):
    for out, res in zip(outs, _ref_attention(params, ins)):
        out[...] = res


def _applies_attention(ctx):
    """float32 Q/K/V (and float32 or bool mask, float32 caches): the same numpy code as the reference, run
    as the chosen algorithm rather than as a fallback (its products are BLAS calls)."""
    floats = [i for i in (0, 1, 2, 3, 4, 5) if i < len(ctx.in_dtypes) and ctx.in_dtypes[i] is not None
              and not (i == 3 and np.dtype(ctx.in_dtypes[i]) == np.bool_)]
    return U.all_f32(ctx, floats)


def _cost_attention(ctx):
    """Two batched products per query head, [Sq, D] @ [D, T] and [Sq, T] @ [T, Dv], and ~6 passes over
    the [B, Hq, Sq, T] scores (scale, bias, max, exp, sum, divide)."""
    _, _, d, dv = _heads(ctx.node, *ctx.in_shapes[:3])
    outs = _infer_attention(ctx.node, ctx.in_shapes, ctx.in_dtypes, ctx.consts, all_outputs=True)
    batch, heads, seq_q, total = outs[3][0]
    return (batch * heads * (gemm_cost_us(seq_q, d, total) + gemm_cost_us(seq_q, total, dv))
            + batch * heads * seq_q * total * 6 * U.NS_PER_ELEMENT / 1e3)


register_op(OpDef("Attention", _infer_attention, _ref_attention))
register_algorithm(Algorithm(
    "Attention", "numpy", run=_run_attention, setup=lambda ctx: ctx.node, applies=_applies_attention,
    cost=_cost_attention, doc="batched np.matmul (GQA without repeating K/V) around a stable row softmax"))


# ----- RotaryEmbedding ---------------------------------------------------------------------------------
def _rope_dims(node, x):
    """(heads, head_size, rotary_dim) for a 3-D [B, S, H*D] or 4-D [B, H, S, D] input, checked."""
    if len(x) == 4:
        heads, head = int(x[1]), int(x[3])
    elif len(x) == 3:
        heads = int(node.attrs.get("num_heads", 0))
        if heads <= 0 or x[2] % heads:
            raise ShapeError(f"RotaryEmbedding with 3-D input {tuple(x)} needs num_heads dividing its last axis")
        head = int(x[2]) // heads
    else:
        raise ShapeError(f"RotaryEmbedding input must be 3-D or 4-D, got {tuple(x)}")
    rot = int(node.attrs.get("rotary_embedding_dim", 0)) or head
    if rot % 2 or rot > head:
        raise ShapeError(f"RotaryEmbedding rotary_embedding_dim={rot} must be even and at most the head size {head}")
    return heads, head, rot


def _infer_rope(node, shapes, dtypes, consts):
    x = shapes[0]
    if x is None or len(shapes) < 3:
        raise ShapeError("RotaryEmbedding takes (X, cos_cache, sin_cache[, position_ids])")
    _, _, rot = _rope_dims(node, x)
    batch, seq = x[0], x[2] if len(x) == 4 else x[1]
    has_pos = len(shapes) > 3 and shapes[3] is not None
    for name, c in (("cos_cache", shapes[1]), ("sin_cache", shapes[2])):
        ok = (len(c) == 2 and c[1] == rot // 2) if has_pos else tuple(c) == (batch, seq, rot // 2)
        if not ok:
            want = f"[max_pos, {rot // 2}]" if has_pos else f"[{batch}, {seq}, {rot // 2}]"
            raise ShapeError(f"RotaryEmbedding {name} has shape {tuple(c)}, expected {want}")
    if has_pos and tuple(shapes[3]) != (batch, seq):
        raise ShapeError(f"RotaryEmbedding position_ids has shape {tuple(shapes[3])}, expected ({batch}, {seq})")
    return [(x, dtypes[0])]


def _ref_rope(node, x):
    v = np.asarray(x[0])
    heads, head, rot = _rope_dims(node, v.shape)
    cos, sin = np.asarray(x[1]), np.asarray(x[2])
    if len(x) > 3 and x[3] is not None:
        pos = np.asarray(x[3]).astype(np.int64)
        if pos.size and (pos.min() < 0 or pos.max() >= cos.shape[0]):
            raise ShapeError(f"RotaryEmbedding position_ids outside [0, {cos.shape[0]})")
        cos, sin = cos[pos], sin[pos]                     # [B, S, rot/2]
    # Work as [B, S, H, D]; the caches broadcast over heads.
    bshd = v.transpose(0, 2, 1, 3) if v.ndim == 4 else v.reshape(v.shape[0], v.shape[1], heads, head)
    cos, sin = cos[:, :, None, :].astype(v.dtype), sin[:, :, None, :].astype(v.dtype)
    out = bshd.copy()
    if int(node.attrs.get("interleaved", 0)):
        first, second = bshd[..., 0:rot:2], bshd[..., 1:rot:2]
        out[..., 0:rot:2] = cos * first - sin * second
        out[..., 1:rot:2] = sin * first + cos * second
    else:
        first, second = bshd[..., :rot // 2], bshd[..., rot // 2:rot]
        out[..., :rot // 2] = cos * first - sin * second
        out[..., rot // 2:rot] = sin * first + cos * second
    return [out.transpose(0, 2, 1, 3) if v.ndim == 4 else out.reshape(v.shape)]


register_op(OpDef("RotaryEmbedding", _infer_rope, _ref_rope))
