"""Quantization references, element by element with Python ints: the scale/zero point of each element is looked
up from its index (per tensor, per axis, or index // block_size along the axis), integer products are exact
Python integers, and rounding is Python's round() (half to even). Division and requantizing multiplies are done
in float32 scalars, as ONNX (the scale's precision) and ONNX Runtime (float32 multiplier) define them."""

import ml_dtypes
import numpy as np

RANGES = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767),
          "uint4": (0, 15), "int4": (-8, 7), "uint2": (0, 3), "int2": (-2, 1)}
FLOAT_MAX = {"float8_e4m3fn": 448.0, "float8_e4m3fnuz": 240.0, "float8_e5m2": 57344.0, "float8_e5m2fnuz": 57344.0,
             "float4_e2m1fn": 6.0}
ALWAYS_SATURATE = {"float4_e2m1fn"}
CODES = {2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 17: ml_dtypes.float8_e4m3fn, 19: ml_dtypes.float8_e5m2,
         21: ml_dtypes.uint4, 22: ml_dtypes.int4, 1: np.float32, 10: np.float16}


def _param_at(p, idx, x_shape, attrs):
    """The scale / zero point entry governing element idx of x."""
    p = np.asarray(p)
    block = attrs.get("block_size", 0)
    if p.size == 1 and not block:
        return p.reshape(-1)[0]
    axis = attrs.get("axis", 1) % len(x_shape)
    if block:
        j = list(idx)
        j[axis] = idx[axis] // block
        return p[tuple(j)]
    return p[idx[axis]]


def quantize_linear(attrs, x):
    v, scale = np.asarray(x[0]), np.asarray(x[1])
    zp = x[2] if len(x) > 2 and x[2] is not None else None
    if zp is not None:
        out_dtype = np.asarray(zp).dtype
    else:
        out_dtype = np.dtype(CODES[attrs["output_dtype"]]) if attrs.get("output_dtype") else np.dtype(np.uint8)
    out = np.zeros(v.shape, np.float64)
    for idx in np.ndindex(*v.shape):
        s = _param_at(scale, idx, v.shape, attrs)
        q = np.float32(v[idx]) / np.float32(s)  # the scale's precision (float32 here)
        z = 0.0 if zp is None else float(_param_at(zp, idx, v.shape, attrs))
        if out_dtype.name in RANGES:
            lo, hi = RANGES[out_dtype.name]
            out[idx] = min(max(round(float(q)) + z, lo), hi)
        else:
            val = float(q) + z
            if attrs.get("saturate", 1) or out_dtype.name in ALWAYS_SATURATE:
                m = FLOAT_MAX[out_dtype.name]
                val = val if val != val else min(max(val, -m), m)
            out[idx] = val
    return [out.astype(out_dtype)]


def dequantize_linear(attrs, x):
    v, scale = np.asarray(x[0]), np.asarray(x[1])
    zp = x[2] if len(x) > 2 and x[2] is not None else None
    out_dtype = np.dtype(CODES[attrs["output_dtype"]]) if attrs.get("output_dtype") else scale.dtype
    out = np.zeros(v.shape, out_dtype)
    for idx in np.ndindex(*v.shape):
        z = 0.0 if zp is None else float(_param_at(zp, idx, v.shape, attrs))
        s = _param_at(scale, idx, v.shape, attrs)
        out[idx] = out_dtype.type(float(v[idx]) - z) * out_dtype.type(s)
    return [out]


def dynamic_quantize_linear(attrs, x):
    vals = [float(t) for t in np.asarray(x[0], np.float32).reshape(-1)]
    hi, lo = np.float32(max(vals + [0.0])), np.float32(min(vals + [0.0]))
    scale = np.float32(hi - lo) / np.float32(255) if hi != lo else np.float32(1) / np.float32(255)
    zp = round(min(max(float(np.float32(0) - lo / scale), 0.0), 255.0))
    y = [min(max(round(float(np.float32(t) / scale)) + zp, 0), 255) for t in vals]
    return [np.array(y, np.uint8).reshape(np.shape(x[0])), np.array(scale, np.float32), np.array(zp, np.uint8)]


def _zp_at(zp, i):
    if zp is None:
        return 0
    zp = np.asarray(zp).reshape(-1)
    return int(zp[0]) if zp.size == 1 else int(zp[i])


def _matmul_int(a, b, azp, bzp):
    """2-D or batched (leading dims equal) exact integer product of (a - a_zp) and (b - b_zp)."""
    a, b = np.asarray(a), np.asarray(b)
    lead = a.shape[:-2]
    m, k = a.shape[-2:]
    n = b.shape[-1]
    out = np.zeros(lead + (m, n), np.int64)
    for bi in np.ndindex(*lead):
        bb = b[bi] if b.ndim == a.ndim else b
        for i in range(m):
            for j in range(n):
                out[bi + (i, j)] = sum((int(a[bi + (i, t)]) - _zp_at(azp, i)) * (int(bb[t, j]) - _zp_at(bzp, j))
                                       for t in range(k))
    return out


def _requant(acc, mult, yzp, dtype):
    lo, hi = RANGES[np.dtype(dtype).name]
    return min(max(round(float(np.float32(acc) * mult)) + int(np.asarray(yzp).reshape(-1)[0]), lo), hi)


def matmul_integer(attrs, x):
    zps = [x[i] if len(x) > i else None for i in (2, 3)]
    return [_matmul_int(x[0], x[1], *zps).astype(np.int32)]


def qlinear_matmul(attrs, x):
    a, sa, azp, b, sb, bzp, sy, yzp = x[:8]
    acc = _matmul_int(a, b, azp, bzp)
    out = np.zeros(acc.shape, np.asarray(yzp).dtype)
    sb = np.asarray(sb, np.float32).reshape(-1)
    for idx in np.ndindex(*acc.shape):
        mult = (np.float32(np.asarray(sa).reshape(-1)[0]) * sb[0 if sb.size == 1 else idx[-1]]) / np.float32(sy)
        out[idx] = _requant(acc[idx], mult, yzp, out.dtype)
    return [out]


def _conv_int(attrs, x, w, xzp, wzp):
    """Direct N-D convolution loop on (x - x_zp) and (w - w_zp), zero padding, groups; Python ints."""
    x, w = np.asarray(x), np.asarray(w)
    r = x.ndim - 2
    strides = attrs.get("strides", [1] * r)
    dil = attrs.get("dilations", [1] * r)
    pads = attrs.get("pads", [0] * (2 * r))
    group = attrs.get("group", 1)
    n, c = x.shape[:2]
    m, cg = w.shape[:2]
    ks = w.shape[2:]
    if attrs.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * r)
        for i in range(r):
            total = max(0, (-(-x.shape[2 + i] // strides[i]) - 1) * strides[i] + dil[i] * (ks[i] - 1) + 1
                        - x.shape[2 + i])
            small = total // 2
            upper = attrs["auto_pad"] == "SAME_UPPER"
            pads[i], pads[i + r] = (small, total - small) if upper else (total - small, small)
    out_sp = [(x.shape[2 + i] + pads[i] + pads[i + r] - dil[i] * (ks[i] - 1) - 1) // strides[i] + 1 for i in range(r)]
    out = np.zeros((n, m, *out_sp), np.int64)
    mg = m // group
    for b in range(n):
        for oc in range(m):
            g = oc // mg
            for o in np.ndindex(*out_sp):
                acc = 0
                for ic in range(cg):
                    for kk in np.ndindex(*ks):
                        pos = [o[i] * strides[i] - pads[i] + kk[i] * dil[i] for i in range(r)]
                        if all(0 <= pos[i] < x.shape[2 + i] for i in range(r)):
                            xv = int(x[(b, g * cg + ic, *pos)]) - _zp_at(xzp, 0)
                            acc += xv * (int(w[(oc, ic, *kk)]) - _zp_at(wzp, oc))
                out[(b, oc, *o)] = acc
    return out


def conv_integer(attrs, x):
    zps = [x[i] if len(x) > i else None for i in (2, 3)]
    return [_conv_int(attrs, x[0], x[1], *zps).astype(np.int32)]


def qlinear_conv(attrs, x):
    xq, sx, xzp, w, sw, wzp, sy, yzp = x[:8]
    acc = _conv_int(attrs, xq, w, xzp, wzp)
    bias = x[8] if len(x) > 8 and x[8] is not None else None
    sw = np.asarray(sw, np.float32).reshape(-1)
    out = np.zeros(acc.shape, np.asarray(yzp).dtype)
    for idx in np.ndindex(*acc.shape):
        a = acc[idx] + (0 if bias is None else int(bias[idx[1]]))
        mult = (np.float32(np.asarray(sx).reshape(-1)[0]) * sw[0 if sw.size == 1 else idx[1]]) / np.float32(sy)
        out[idx] = _requant(a, mult, yzp, out.dtype)
    return [out]


def qgemm(attrs, x):
    """com.microsoft::QGemm: int32 C added to the exact product, scale alpha * a_scale * b_scale[j] (/ y_scale)."""
    a, b = np.asarray(x[0]), np.asarray(x[3])
    a = a.T if attrs.get("transA", 0) else a
    b = b.T if attrs.get("transB", 0) else b
    acc = _matmul_int(a, b, x[2], x[5])
    c = x[6] if len(x) > 6 and x[6] is not None else None
    if c is not None:
        acc = acc + np.broadcast_to(np.asarray(c, np.int64), acc.shape)
    y_scale = x[7] if len(x) > 7 else None
    y_zp = x[8] if len(x) > 8 else None
    sb = np.asarray(x[4], np.float32).reshape(-1)
    out = np.zeros(acc.shape, np.float32 if y_zp is None else np.asarray(y_zp).dtype)
    for i, j in np.ndindex(*acc.shape):
        scale = np.float32(attrs.get("alpha", 1.0)) * np.float32(x[1]) * sb[0 if sb.size == 1 else j]
        if y_scale is not None:
            scale = scale / np.float32(y_scale)
        out[i, j] = np.float32(acc[i, j]) * scale if y_zp is None else _requant(acc[i, j], scale, y_zp, out.dtype)
    return [out]


def qlinear_global_average_pool(attrs, x):
    v = np.asarray(x[0])
    if attrs.get("channels_last", 0):
        v = np.moveaxis(v, -1, 1)
    n, c = v.shape[:2]
    size = int(np.prod(v.shape[2:]))
    out = np.zeros((n, c), np.asarray(x[4]).dtype)
    for i in range(n):
        for j in range(c):
            acc = sum(int(t) - int(x[2]) for t in v[i, j].reshape(-1))
            out[i, j] = _requant(acc, np.float32(x[1]) / (np.float32(x[3]) * np.float32(size)), x[4], out.dtype)
    out = out.reshape((n, c) + (1,) * (v.ndim - 2))
    return [np.moveaxis(out, 1, -1) if attrs.get("channels_last", 0) else out]


REFERENCES = {
    "com.microsoft::QGemm": qgemm,
    "com.microsoft::QLinearGlobalAveragePool": qlinear_global_average_pool,
    "QuantizeLinear": quantize_linear,
    "DequantizeLinear": dequantize_linear,
    "DynamicQuantizeLinear": dynamic_quantize_linear,
    "MatMulInteger": matmul_integer,
    "QLinearMatMul": qlinear_matmul,
    "ConvInteger": conv_integer,
    "QLinearConv": qlinear_conv,
}
