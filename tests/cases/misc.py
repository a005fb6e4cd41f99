import base64

import numpy as np
from onnx import TensorProto, helper

from jitmnn.converter.onnx_import import _Subgraph
from tests.harness import Case, rng

R = rng(101)
F32 = np.float32
I64 = np.int64


# ----- AffineGrid --------------------------------------------------------------------------------------
def _affine(n, spatial, align, id_):
    r = len(spatial)
    theta = R.standard_normal((n, r, r + 1)).astype(F32)
    return Case("AffineGrid", [theta, np.array([n, 3, *spatial], I64)], {"align_corners": align},
                const_inputs=(1,), id=id_)


# ----- MaxUnpool: X and indices from a MaxPool computed here -------------------------------------------
def _max_pool_with_indices(x, kernel, stride):
    n, c, h, w = x.shape
    oh, ow = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    vals, idx = np.zeros((n, c, oh, ow), x.dtype), np.zeros((n, c, oh, ow), I64)
    for b, ch, i, j in np.ndindex(n, c, oh, ow):
        win = x[b, ch, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
        di, dj = np.unravel_index(np.argmax(win), win.shape)
        vals[b, ch, i, j] = win[di, dj]
        idx[b, ch, i, j] = np.ravel_multi_index((b, ch, i * stride + di, j * stride + dj), x.shape)
    return vals, idx


POOL_IN = R.standard_normal((2, 3, 7, 9)).astype(F32)
POOLED, POOL_IDX = _max_pool_with_indices(POOL_IN, 3, 2)  # unpooled size (7, 9)

# ----- TfIdfVectorizer (ONNX's documented pool: 1-grams 2 3 5 4, 2-grams 5 6, 7 8, 6 7) ----------------
TFIDF = {"ngram_counts": [0, 4], "ngram_indexes": [0, 1, 2, 3, 4, 5, 6],
         "pool_int64s": [2, 3, 5, 4, 5, 6, 7, 8, 6, 7], "min_gram_length": 1, "max_gram_length": 2,
         "max_skip_count": 0, "mode": "TF"}
TOKENS = np.array([[1, 1, 3, 3, 3, 7, 5, 6], [8, 6, 7, 5, 6, 8, 5, 4]], np.int32)
TFIDF3 = {"ngram_counts": [0, 2, 4], "ngram_indexes": [3, 0, 2, 1, 4], "pool_int64s": [5, 6, 5, 6, 7, 6, 5, 7],
          "min_gram_length": 2, "max_gram_length": 3, "max_skip_count": 3, "mode": "TFIDF",
          "weights": [0.5, 2.0, 1.5, 3.0, 0.25]}
LONG_TOKENS = R.integers(4, 9, 40).astype(I64)


def _tfidf(x, attrs, id_):
    return Case("TfIdfVectorizer", [x], attrs, id=id_)


# ----- BitCast -----------------------------------------------------------------------------------------
def _bitcast(x, to, id_):
    return Case("BitCast", [x], {"to": int(to)}, id=id_)


FLOATS = R.standard_normal((3, 5)).astype(F32)
DOUBLES = R.standard_normal((4,))

# ----- TensorScatter -----------------------------------------------------------------------------------
CACHE = R.standard_normal((3, 2, 8, 5)).astype(F32)
UPDATE = R.standard_normal((3, 2, 3, 5)).astype(F32)


def _scatter(past, update, write, attrs, id_):
    return Case("TensorScatter", [past, update] + ([] if write is None else [np.array(write, I64)]), attrs, id=id_)


# ----- LinearAttention ---------------------------------------------------------------------------------
B, T, DK, DV = 2, 5, 4, 3


def _la(rule, hq, hkv, decay_last=None, beta_last=None, past=False, scale=None, outputs=2, id_=""):
    q = R.standard_normal((B, T, hq * DK)).astype(F32) * 0.5
    k = R.standard_normal((B, T, hkv * DK)).astype(F32)
    k /= np.sqrt((k.reshape(B, T, hkv, DK) ** 2).sum(-1, keepdims=True)).repeat(DK, -1).reshape(k.shape)
    v = R.standard_normal((B, T, hkv * DV)).astype(F32)
    ins = [q, k, v, R.standard_normal((B, hkv, DK, DV)).astype(F32) * 0.3 if past else None,
           -R.uniform(0.05, 0.7, (B, T, decay_last)).astype(F32) if decay_last else None,
           R.uniform(0.1, 0.9, (B, T, beta_last)).astype(F32) if beta_last else None]
    while ins[-1] is None:
        ins.pop()
    attrs = {"q_num_heads": hq, "kv_num_heads": hkv, "update_rule": rule}
    if scale is not None:
        attrs["scale"] = scale
    return Case("LinearAttention", ins, attrs, n_outputs=outputs, id=id_)


# ----- CausalConvWithState -----------------------------------------------------------------------------
def _ccws(batch, channels, length, k, bias=False, past=False, act=None, id_=""):
    ins = [R.standard_normal((batch, channels, length)).astype(F32), R.standard_normal((channels, 1, k)).astype(F32),
           R.standard_normal(channels).astype(F32) if bias else None,
           R.standard_normal((batch, channels, k - 1)).astype(F32) if past else None]
    while ins[-1] is None:
        ins.pop()
    return Case("CausalConvWithState", ins, {} if act is None else {"activation": act}, n_outputs=2, id=id_)


# ----- FlexAttention -----------------------------------------------------------------------------------
FLEX = "ai.onnx.preview::FlexAttention"


def _body(name, nodes, inits, elem=TensorProto.FLOAT, free=()):
    """A one-input one-output modifier graph; `free` names are read from the enclosing graph."""
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("s", elem, None)],
                              [helper.make_tensor_value_info("out", elem, None)], inits)
    return graph


CAUSAL = _body("causal", [
    helper.make_node("Shape", ["s"], ["shape"]),
    helper.make_node("Gather", ["shape", "i2"], ["L"], axis=0),
    helper.make_node("Gather", ["shape", "i3"], ["S"], axis=0),
    helper.make_node("Range", ["zero", "L", "one"], ["qi"]),
    helper.make_node("Range", ["zero", "S", "one"], ["ki"]),
    helper.make_node("Reshape", ["qi", "col"], ["qc"]),
    helper.make_node("GreaterOrEqual", ["qc", "ki"], ["keep"]),
    helper.make_node("Where", ["keep", "s", "neg"], ["out"]),
], [helper.make_tensor(n, TensorProto.INT64, [], [v]) for n, v in (("i2", 2), ("i3", 3), ("zero", 0), ("one", 1))]
    + [helper.make_tensor("col", TensorProto.INT64, [2], [-1, 1]),
       helper.make_tensor("neg", TensorProto.FLOAT, [], [-1e9])])
SQUARE_PROBS = _body("square", [helper.make_node("Mul", ["s", "s"], ["out"])], [])
OUTER_BIAS = _body("outer_bias", [helper.make_node("Add", ["s", "bias_outer"], ["out"])], [])


def _b64(graph):
    return base64.b64encode(graph.SerializeToString()).decode()


def _flex(b, hq, hkv, lq, s, e, ev, attrs=None, dtype=F32, extra=(), id_=""):
    ins = [R.standard_normal((b, hq, lq, e)).astype(dtype), R.standard_normal((b, hkv, s, e)).astype(dtype),
           R.standard_normal((b, hkv, s, ev)).astype(dtype), *extra]
    return Case(FLEX, ins, attrs or {}, id=id_)


CASES = [
    _affine(2, (5, 7), 0, "2d"),
    _affine(2, (5, 7), 1, "2d-align"),
    _affine(1, (3, 4, 6), 0, "3d"),
    _affine(2, (1, 4, 3), 1, "3d-align-depth-one"),
    Case("MaxUnpool", [POOLED, POOL_IDX], {"kernel_shape": [3, 3], "strides": [2, 2]}, id="k3s2"),
    Case("MaxUnpool", [POOLED, POOL_IDX, np.array([2, 3, 9, 10], I64)], {"kernel_shape": [3, 3], "strides": [2, 2]},
         const_inputs=(2,), id="larger-output-shape"),
    # 1-D, pads shrink the unpooled length to (4 - 1) * 2 - 3 + 3 = 6; distinct positions of the 2*3*6
    Case("MaxUnpool", [POOLED[:, :, 0], R.permutation(36)[:24].reshape(2, 3, 4)],
         {"kernel_shape": [3], "strides": [2], "pads": [1, 2]}, id="1d-pads"),
    _tfidf(TOKENS, TFIDF, "tf-uni-bigrams"),
    _tfidf(LONG_TOKENS[:25], {**TFIDF, "max_skip_count": 2, "min_gram_length": 2}, "bigrams-skip2-1d"),
    _tfidf(TOKENS, {**TFIDF, "mode": "IDF", "weights": [1, 2, 3, 4, 5, 6, 7.5]}, "idf-weights"),
    _tfidf(TOKENS, {**TFIDF, "mode": "IDF"}, "idf-no-weights"),
    _tfidf(LONG_TOKENS.reshape(2, 20), TFIDF3, "tfidf-trigrams-skip3-permuted-columns"),
    _bitcast(FLOATS, TensorProto.INT32, "f32-to-i32"),
    _bitcast(DOUBLES.view(I64), TensorProto.DOUBLE, "i64-to-f64"),
    _bitcast(R.integers(0, 256, (2, 7)).astype(np.uint8), TensorProto.INT8, "u8-to-i8"),
    _bitcast(R.random((3, 3)) > 0.5, TensorProto.UINT8, "bool-to-u8"),
    _bitcast(np.float16([1.5, -2.0, 65504.0]).view(np.uint16), TensorProto.FLOAT16, "u16-to-f16"),
    _scatter(CACHE, UPDATE, [0, 5, 2], {}, "linear-write-indices"),
    _scatter(CACHE, UPDATE, None, {"mode": "linear"}, "linear-from-zero"),
    _scatter(CACHE, UPDATE, [6, 7, 0], {"mode": "circular"}, "circular-wraps"),
    _scatter(CACHE.transpose(0, 2, 1, 3).copy(), UPDATE.transpose(0, 2, 1, 3).copy()[:, :2], [1, 0, 6],
             {"axis": 1}, "axis1"),
    _scatter(R.integers(0, 9, (2, 4, 3)), R.integers(0, 9, (2, 2, 3)), [2, 1], {"axis": -2}, "int64"),
    Case("SwiGLU", [R.standard_normal((3, 17)).astype(F32) * 4, R.standard_normal((3, 17)).astype(F32)], id="default"),
    Case("SwiGLU", [R.standard_normal((2, 5, 6)) * 4, R.standard_normal((2, 5, 6))], {"alpha": 1.702},
         id="alpha-f64"),
    _la("linear", 2, 2, id_="linear"),
    _la("gated", 2, 2, decay_last=2 * DK, past=True, id_="gated-per-key-past"),
    _la("gated", 4, 2, decay_last=2, id_="gated-per-head-gqa"),
    _la("delta", 2, 2, beta_last=2, scale=0.3, id_="delta-scale"),
    _la("gated_delta", 3, 1, decay_last=1, beta_last=1, past=True, id_="gated-delta-mqa"),
    _la("gated_delta", 2, 2, decay_last=2 * DK, beta_last=2, outputs=1, id_="gated-delta-output-only"),
    _ccws(2, 3, 9, 4, id_="basic"),
    _ccws(2, 5, 7, 3, bias=True, past=True, id_="bias-past"),
    _ccws(1, 4, 6, 4, past=True, act="silu", id_="silu-past"),
    _ccws(2, 3, 5, 1, act="swish", id_="k1-swish"),
    _ccws(1, 2, 2, 5, past=True, id_="input-shorter-than-state"),
    _flex(2, 3, 3, 5, 7, 4, 6, id_="plain"),
    _flex(1, 4, 2, 3, 6, 5, 3, {"scale": 0.2}, id_="gqa-scale"),
    _flex(2, 2, 1, 6, 6, 4, 4, {"score_mod": _Subgraph(CAUSAL)}, id_="score-mod-causal-passthrough"),
    _flex(1, 2, 2, 3, 5, 4, 4, {"prob_mod": _b64(SQUARE_PROBS), "n_inputs": 3, "outer_inputs": [], "opset": 21},
          id_="prob-mod-encoded"),
    _flex(1, 2, 2, 3, 5, 4, 2, {"score_mod": _b64(OUTER_BIAS), "n_inputs": 3, "outer_inputs": ["bias_outer"]},
          extra=[R.standard_normal((1, 1, 3, 5)).astype(F32)], id_="score-mod-reads-outer"),
    _flex(1, 2, 2, 4, 3, 5, 2, {"softmax_precision": 11}, dtype=np.float64, id_="f64"),
]
