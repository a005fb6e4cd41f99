"""The recurrent ops LSTM, GRU and RNN (ONNX opsets 7-22: the later opsets only add layout=1 and dtypes).

Inputs X, W, R, then the optional B, sequence_lens, initial_h (and for LSTM initial_c, P); outputs Y, Y_h
(and for LSTM Y_c), each of which may be omitted. Gates are stacked along W's/R's rows in ONNX's order:
LSTM i, o, f, c; GRU z, r, h; RNN one gate. layout=0: X [seq, batch, input], Y [seq, dirs, batch, hidden],
Y_h [dirs, batch, hidden]; layout=1 moves batch first: X [batch, seq, input], Y [batch, seq, dirs, hidden],
Y_h [batch, dirs, hidden] (initial_h/initial_c follow Y_h's layout).

sequence_lens: batch entry b runs len_b steps (the reverse direction from t = len_b - 1 down to 0); Y is 0
for t >= len_b and Y_h/Y_c hold the state after its last step (0 when len_b = 0, as ONNX Runtime gives).
clip bounds every gate's pre-activation to [-clip, clip]; input_forget (LSTM) couples
the forget gate to the input gate, f = 1 - i (ONNX Runtime's reading of the attribute).

The "numba" algorithm (kernels/recurrent.py) runs float32 with each op's default activations and constant
W, R, B, P: one BLAS GEMM projects all time steps of X through W (both directions at once), then one Numba
kernel per direction walks the sequence (per step: h_{t-1} @ R^T plus a fused bias + activation + state
update pass). Other activations, run-time weights and other dtypes take the numpy reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn.kernels import recurrent as K

from ..errors import InputError, ShapeError
from . import _util as U
from .conv import CALL_OVERHEAD_US, const_value, gemm_cost_us
from .registry import Algorithm, OpDef, register_algorithm, register_op

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ("sigmoid", "tanh", "tanh"), "GRU": ("sigmoid", "tanh"), "RNN": ("tanh",)}
# Input positions (after X, W, R, B, sequence_lens, initial_h): LSTM adds initial_c and P.
X_IN, W_IN, R_IN, B_IN, LENS_IN, H0_IN, C0_IN, P_IN = range(8)

# Activation -> (uses alpha, uses beta, default alpha, default beta). The spec's defaults are "those of the
# corresponding ONNX operators": LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1, ThresholdedRelu 1, the old
# experimental Affine 1/0. ScaledTanh's old op had no defaults, so its alpha and beta must be given (None).
# ONNX Runtime 1.32 agrees except for ThresholdedRelu and Affine, where it uses 0 for a missing value
# (Affine then outputs only beta); we follow the spec.
ACTIVATIONS = {
    "relu": (False, False, 0.0, 0.0),
    "tanh": (False, False, 0.0, 0.0),
    "sigmoid": (False, False, 0.0, 0.0),
    "affine": (True, True, 1.0, 0.0),
    "leakyrelu": (True, False, 0.01, 0.0),
    "thresholdedrelu": (True, False, 1.0, 0.0),
    "scaledtanh": (True, True, None, None),
    "hardsigmoid": (True, True, 0.2, 0.5),
    "elu": (True, False, 1.0, 0.0),
    "softsign": (False, False, 0.0, 0.0),
    "softplus": (False, False, 0.0, 0.0),
}


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass(frozen=True)
class RnnSpec:
    """A recurrent node's attributes with ONNX's defaults applied and checked against the weight shapes."""

    op: str
    hidden: int
    directions: tuple  # per direction: True = runs the sequence backwards
    layout: int
    clip: float | None
    input_forget: bool
    linear_before_reset: bool
    activations: tuple  # per direction: ((name, alpha, beta), ...) in the op's (f, g[, h]) order

    @property
    def gates(self) -> int:
        return GATES[self.op]

    @property
    def num_dir(self) -> int:
        return len(self.directions)

    def default_activations(self) -> bool:
        return all(tuple(a[0] for a in acts) == DEFAULT_ACTIVATIONS[self.op] for acts in self.activations)


def parse_spec(node, r_shape) -> RnnSpec:
    """Attributes of `node` (LSTM/GRU/RNN) with defaults; r_shape (R's shape) gives hidden_size when the
    attribute is absent. Raises ShapeError naming the op and attribute for anything unsupported."""
    op, attrs = node.op, node.attrs
    direction = _text(attrs.get("direction", "forward"))
    dirs = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}.get(direction)
    if dirs is None:
        raise ShapeError(f"{op}: direction must be forward, reverse or bidirectional, got {direction!r}")
    layout = int(attrs.get("layout", 0))
    if layout not in (0, 1):
        raise ShapeError(f"{op}: layout must be 0 or 1, got {layout}")
    if r_shape is None or len(r_shape) != 3:
        raise ShapeError(f"{op}: R must be 3-D [num_directions, gates*hidden, hidden], got {r_shape}")
    hidden = int(attrs.get("hidden_size", r_shape[2]))
    if hidden != r_shape[2]:
        raise ShapeError(f"{op}: hidden_size={hidden} but R has shape {tuple(r_shape)}")
    clip = attrs.get("clip")
    if clip is not None:
        clip = float(clip)
        if not clip > 0:
            raise ShapeError(f"{op}: clip must be positive, got {clip}")
    input_forget = bool(attrs.get("input_forget", 0))
    if input_forget and op != "LSTM":
        raise ShapeError(f"{op} has no attribute input_forget")
    lbr = bool(attrs.get("linear_before_reset", 0))
    if lbr and op != "GRU":
        raise ShapeError(f"{op} has no attribute linear_before_reset")
    per_dir = len(DEFAULT_ACTIVATIONS[op])
    names = [_text(a).lower() for a in attrs.get("activations", ())] or list(DEFAULT_ACTIVATIONS[op]) * len(dirs)
    if len(names) != per_dir * len(dirs):
        raise ShapeError(f"{op}: activations needs {per_dir} names per direction ({per_dir * len(dirs)} for "
                         f"direction={direction}), got {len(names)}")
    unknown = [n for n in names if n not in ACTIVATIONS]
    if unknown:
        raise ShapeError(f"{op}: unsupported activations {unknown}; known: {sorted(ACTIVATIONS)}")
    # activation_alpha/beta are consumed in order by the activations that take one (ONNX Runtime's reading);
    # an activation past the end of the list gets its op's default.
    alphas = list(attrs.get("activation_alpha", ()))
    betas = list(attrs.get("activation_beta", ()))
    resolved = []
    for n in names:
        uses_a, uses_b, da, db = ACTIVATIONS[n]
        a = float(alphas.pop(0)) if uses_a and alphas else da
        b = float(betas.pop(0)) if uses_b and betas else db
        if a is None or b is None:
            raise ShapeError(f"{op}: activation {n} needs activation_alpha and activation_beta values (it has no "
                             "defaults)")
        resolved.append((n, a, b))
    acts = tuple(tuple(resolved[d * per_dir:(d + 1) * per_dir]) for d in range(len(dirs)))
    return RnnSpec(op, hidden, dirs, layout, clip, input_forget, lbr, acts)


def _check_shape(op, what, got, want):
    if got is not None and tuple(got) != tuple(want):
        raise ShapeError(f"{op}: {what} must have shape {tuple(want)}, got {tuple(got)}")


def _in(seq, i):
    return seq[i] if i < len(seq) else None


def _infer(node, shapes, dtypes, consts):
    op = node.op
    x, w, r = _in(shapes, X_IN), _in(shapes, W_IN), _in(shapes, R_IN)
    if x is None or w is None or r is None:
        raise ShapeError(f"{op} needs X, W and R")
    spec = parse_spec(node, r)
    if len(x) != 3:
        raise ShapeError(f"{op}: X must be 3-D, got {tuple(x)}")
    seq, batch = (x[0], x[1]) if spec.layout == 0 else (x[1], x[0])
    nd, g, hid = spec.num_dir, spec.gates, spec.hidden
    _check_shape(op, "W", w, (nd, g * hid, x[2]))
    _check_shape(op, "R", r, (nd, g * hid, hid))
    _check_shape(op, "B", _in(shapes, B_IN), (nd, 2 * g * hid))
    _check_shape(op, "sequence_lens", _in(shapes, LENS_IN), (batch,))
    state = (nd, batch, hid) if spec.layout == 0 else (batch, nd, hid)
    _check_shape(op, "initial_h", _in(shapes, H0_IN), state)
    if op == "LSTM":
        _check_shape(op, "initial_c", _in(shapes, C0_IN), state)
        _check_shape(op, "P", _in(shapes, P_IN), (nd, 3 * hid))
    elif len(shapes) > C0_IN and any(s is not None for s in shapes[C0_IN:]):
        raise ShapeError(f"{op} takes at most 6 inputs, got {len(shapes)}")
    lens_dt = _in(dtypes, LENS_IN)
    if lens_dt is not None and np.dtype(lens_dt) != np.int32:
        raise ShapeError(f"{op}: sequence_lens must be int32, got {np.dtype(lens_dt).name}")
    y = (seq, nd, batch, hid) if spec.layout == 0 else (batch, seq, nd, hid)
    n_out = 3 if op == "LSTM" else 2
    if len(node.outputs) > n_out:
        raise ShapeError(f"{op} has at most {n_out} outputs, got {len(node.outputs)}")
    return [(y, dtypes[X_IN]), (state, dtypes[X_IN]), (state, dtypes[X_IN])][:len(node.outputs)]


# ----------------------------------------------------------------------------------------------------
# numpy reference: vectorised over the batch, float64 arithmetic, one time step per iteration.
def np_activation(name, alpha, beta, v):
    """ONNX's recurrent activation functions on a float64 array."""
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * v))  # = 1 / (1 + e^-v) without overflow warnings
    if name == "tanh":
        return np.tanh(v)
    if name == "relu":
        return np.maximum(v, 0.0)
    if name == "affine":
        return alpha * v + beta
    if name == "leakyrelu":
        return np.where(v >= 0, v, alpha * v)
    if name == "thresholdedrelu":
        return np.where(v > alpha, v, 0.0)
    if name == "scaledtanh":
        return alpha * np.tanh(beta * v)
    if name == "hardsigmoid":
        return np.clip(alpha * v + beta, 0.0, 1.0)
    if name == "elu":
        return np.where(v >= 0, v, alpha * np.expm1(np.minimum(v, 0.0)))
    if name == "softsign":
        return v / (1.0 + np.abs(v))
    if name == "softplus":
        return np.logaddexp(0.0, v)
    raise ShapeError(f"unsupported recurrent activation {name!r}")


def _check_lens(op, lens, seq):
    """sequence_lens is run-time data: a value outside [0, seq] is a bad input (and would index out of X)."""
    if lens.size and (int(lens.min()) < 0 or int(lens.max()) > seq):
        raise InputError(f"{op}: sequence_lens must lie in [0, {seq}], got {lens.tolist()}")


def _reference(node, inputs):
    inputs = list(inputs) + [None] * (8 - len(inputs))
    x = np.asarray(inputs[X_IN])
    out_dtype = x.dtype
    spec = parse_spec(node, np.shape(inputs[R_IN]))
    f64 = lambda a: None if a is None else np.asarray(a, np.float64)  # noqa: E731
    x = f64(x)
    if spec.layout:
        x = x.transpose(1, 0, 2)
    seq, batch = x.shape[0], x.shape[1]
    nd, g, hid = spec.num_dir, spec.gates, spec.hidden
    w, r = f64(inputs[W_IN]), f64(inputs[R_IN])
    bias = f64(inputs[B_IN]) if inputs[B_IN] is not None else np.zeros((nd, 2 * g * hid))
    lens = (np.asarray(inputs[LENS_IN]).astype(np.int64) if inputs[LENS_IN] is not None
            else np.full(batch, seq, np.int64))
    _check_lens(node.op, lens, seq)

    def state(i):
        if inputs[i] is None:
            return np.zeros((nd, batch, hid))
        s = f64(inputs[i])
        return s.transpose(1, 0, 2) if spec.layout else s

    h0, c0 = state(H0_IN), state(C0_IN)
    peep = f64(inputs[P_IN]) if node.op == "LSTM" and inputs[P_IN] is not None else np.zeros((nd, 3 * hid))
    y = np.zeros((seq, nd, batch, hid))
    yh, yc = np.zeros((nd, batch, hid)), np.zeros((nd, batch, hid))
    rows = np.arange(batch)
    for d, backwards in enumerate(spec.directions):
        acts = [lambda v, a=a: np_activation(a[0], a[1], a[2], v) for a in spec.activations[d]]
        clip = (lambda v: np.clip(v, -spec.clip, spec.clip)) if spec.clip is not None else (lambda v: v)
        wb, rb = bias[d, :g * hid], bias[d, g * hid:]
        h, c = h0[d].copy(), c0[d].copy()
        for step in range(seq):
            active = step < lens
            t = np.where(backwards, lens - 1 - step, step).clip(0, seq - 1)
            xt = x[t, rows]  # [batch, input]: each entry's own time index
            new_h, new_c = _cell(spec, acts, clip, xt, h, c, w[d], r[d], wb, rb, peep[d])
            h = np.where(active[:, None], new_h, h)
            c = np.where(active[:, None], new_c, c)
            y[t[active], d, rows[active]] = h[active]
        ran = (lens > 0)[:, None]
        yh[d], yc[d] = np.where(ran, h, 0.0), np.where(ran, c, 0.0)
    if spec.layout:
        y, yh, yc = y.transpose(2, 0, 1, 3), yh.transpose(1, 0, 2), yc.transpose(1, 0, 2)
    return [a.astype(out_dtype) for a in (y, yh, yc)][:len(node.outputs)]


def _cell(spec, acts, clip, xt, h, c, w, r, wb, rb, p):
    """One time step for the whole batch: (new h, new c) from x_t [batch, input] and the state."""
    hid = spec.hidden
    xw = xt @ w.T + wb
    if spec.op == "RNN":
        return acts[0](clip(xw + h @ r.T + rb)), c
    if spec.op == "GRU":
        f, gact = acts
        hr = h @ r.T + rb
        z = f(clip(xw[:, :hid] + hr[:, :hid]))
        rr = f(clip(xw[:, hid:2 * hid] + hr[:, hid:2 * hid]))
        if spec.linear_before_reset:
            pre = xw[:, 2 * hid:] + rr * hr[:, 2 * hid:]
        else:
            pre = xw[:, 2 * hid:] + (rr * h) @ r[2 * hid:].T + rb[2 * hid:]
        hn = gact(clip(pre))
        return (1.0 - z) * hn + z * h, c
    f, gact, hact = acts
    gates = xw + h @ r.T + rb
    pi, po, pf = p[:hid], p[hid:2 * hid], p[2 * hid:]
    i = f(clip(gates[:, :hid] + pi * c))
    fg = 1.0 - i if spec.input_forget else f(clip(gates[:, 2 * hid:3 * hid] + pf * c))
    cand = gact(clip(gates[:, 3 * hid:]))
    c_new = fg * c + i * cand
    o = f(clip(gates[:, hid:2 * hid] + po * c_new))
    return o * hact(c_new), c_new


for _op in GATES:
    register_op(OpDef(_op, _infer, _reference))


# ----------------------------------------------------------------------------------------------------
# "numba": BLAS projection of the whole sequence + a Numba kernel per direction (kernels/recurrent.py).
# Cost: the recurrent GEMV streams R^T from L2 every step (~4 multiply-adds per loaded float of the
# accumulator row): estimated ~8 GFLOP/s on this VM, plus ~10 ns per hidden unit per step for the gate pass
# (4 fast_exp-based activations) and a Python-level call per direction.
RECURRENT_GFLOPS = 8.0
NS_PER_CELL = 10.0
_FLOAT_INPUTS = (X_IN, W_IN, R_IN, B_IN, H0_IN, C0_IN, P_IN)
_CONST_WEIGHTS = (W_IN, R_IN, B_IN, P_IN)


def _applies(ctx) -> bool:
    """float32 tensors, constant weights, the op's default activations (see the module docstring)."""
    node = ctx.node
    floats = [i for i in _FLOAT_INPUTS if i < len(ctx.in_dtypes) and U.has_input(node, i)]
    if not U.all_f32(ctx, floats):
        return False
    if any(U.has_input(node, i) and _in(ctx.consts, i) is None for i in _CONST_WEIGHTS if i < len(node.inputs)):
        return False
    return parse_spec(node, ctx.in_shapes[R_IN]).default_activations()


@dataclass
class Packed:
    """Weights in the kernels' layout, per direction d. w: W as stored (used transposed by BLAS, so both
    directions project in one GEMM); rt: R[d]^T per gate block; bias: Wb + Rb (GRU's h gate keeps Rbh apart
    when linear_before_reset); peep: P or zeros."""

    w: np.ndarray  # [dirs * gates * hidden, input]
    rt: list  # LSTM/RNN: [hidden, gates*hidden]; GRU: (z|r block [hidden, 2*hidden], h block [hidden, hidden])
    bias: np.ndarray  # [dirs, gates * hidden]
    rb_h: np.ndarray  # GRU: [dirs, hidden] (Rbh when linear_before_reset, else unused zeros)
    peep: np.ndarray  # LSTM: [dirs, 3 * hidden]
    zero_h: np.ndarray  # [hidden] zeros: the "x" row of GRU's linear-before-reset GEMV


def _f32(v):
    return np.ascontiguousarray(const_value(v), dtype=np.float32)


def _pack(ctx) -> Packed:
    spec = parse_spec(ctx.node, ctx.in_shapes[R_IN])
    nd, g, hid = spec.num_dir, spec.gates, spec.hidden
    w = _f32(ctx.consts[W_IN])
    r = _f32(ctx.consts[R_IN])
    b = _f32(ctx.consts[B_IN]) if U.has_input(ctx.node, B_IN) else np.zeros((nd, 2 * g * hid), np.float32)
    wb, rb = b[:, :g * hid], b[:, g * hid:]
    bias = U.writable_f32(wb + rb)
    rb_h = np.zeros((nd, hid), np.float32)
    if spec.op == "GRU":
        rt = [(U.writable_f32(r[d, :2 * hid].T), U.writable_f32(r[d, 2 * hid:].T)) for d in range(nd)]
        if spec.linear_before_reset:  # r * (h Rh^T + Rbh): Rbh stays inside the reset product
            bias[:, 2 * hid:] = wb[:, 2 * hid:]
            rb_h = U.writable_f32(rb[:, 2 * hid:])
    else:
        rt = [U.writable_f32(r[d].T) for d in range(nd)]
    # Everything the Numba kernels read is a writable copy: a read-only (memory-mapped) array is another
    # Numba type and would compile each kernel a second time. W only goes to BLAS, so it stays as stored.
    peep = (U.writable_f32(const_value(ctx.consts[P_IN])) if spec.op == "LSTM" and U.has_input(ctx.node, P_IN)
            else np.zeros((nd, 3 * hid), np.float32))
    return Packed(w.reshape(nd * g * hid, -1), rt, bias, rb_h, peep, np.zeros(hid, np.float32))


def _weight_bytes(ctx) -> int:
    """R^T, the summed biases and peepholes are copies; W is used as stored when it is contiguous float32."""
    spec = parse_spec(ctx.node, ctx.in_shapes[R_IN])
    nd, g, hid = spec.num_dir, spec.gates, spec.hidden
    w = ctx.consts[W_IN]
    w_copy = 0 if isinstance(w, np.ndarray) and w.dtype == np.float32 and w.flags.c_contiguous else \
        4 * U.numel(ctx.in_shapes[W_IN])
    return w_copy + 4 * nd * (g * hid * hid + g * hid + 4 * hid) + 4 * hid


_ALIGN = 16  # floats: scratch buffers start on 64-byte lines


def _round(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


@dataclass
class Setup:
    spec: RnnSpec
    seq: int
    batch: int
    inp: int
    x_ts: int  # projection row of (t, b) = t * x_ts + b * x_bs
    x_bs: int
    y_off: list  # per direction: Y row of (t, b) = y_off[d] + t * y_ts + b * y_bs in Y viewed as [-1, hidden]
    y_ts: int
    y_bs: int
    has_y: bool
    has_yh: bool
    has_yc: bool
    offsets: dict  # scratch buffer name -> (float offset, shape)
    floats: int
    lens: np.ndarray  # int32 [batch]: seq each when sequence_lens is absent, else its values copied per run
    no_y: np.ndarray  # [0, hidden]: stands in for an omitted Y


def _scratch_layout(spec, seq, batch):
    """Scratch buffers (float32): the projection of every step, the state and the kernels' work rows."""
    hid, g, nd = spec.hidden, spec.gates, spec.num_dir
    shapes = {"xp": (seq * batch, nd * g * hid), "h": (batch, hid)}
    if spec.op == "LSTM":
        shapes.update(c=(batch, hid), gates=(4 * hid,))
    elif spec.op == "GRU":
        shapes.update(acc_zr=(2 * hid,), acc_h=(hid,), rh=(hid,))
    else:
        shapes.update(acc=(hid,))
    offsets, at = {}, 0
    for name, shape in shapes.items():
        offsets[name] = (at, shape)
        at += _round(U.numel(shape))
    return offsets, at


def _setup(ctx) -> Setup:
    spec = parse_spec(ctx.node, ctx.in_shapes[R_IN])
    x = ctx.in_shapes[X_IN]
    seq, batch = (x[0], x[1]) if spec.layout == 0 else (x[1], x[0])
    nd, hid = spec.num_dir, spec.hidden
    if spec.layout == 0:  # X [seq, batch, in], Y [seq, dirs, batch, hidden]
        x_ts, x_bs, y_off, y_ts, y_bs = batch, 1, [d * batch for d in range(nd)], nd * batch, 1
    else:  # X [batch, seq, in], Y [batch, seq, dirs, hidden]
        x_ts, x_bs, y_off, y_ts, y_bs = 1, seq, list(range(nd)), nd, seq * nd
    outs = list(ctx.node.outputs) + [""] * 3
    offsets, floats = _scratch_layout(spec, seq, batch)
    return Setup(spec, int(seq), int(batch), int(x[2]), x_ts, x_bs, y_off, y_ts, y_bs, bool(outs[0]),
                 bool(outs[1]), spec.op == "LSTM" and bool(outs[2]), offsets, floats,
                 np.full(batch, seq, np.int32), np.zeros((0, hid), np.float32))


def _scratch_bytes(ctx) -> int:
    spec = parse_spec(ctx.node, ctx.in_shapes[R_IN])
    x = ctx.in_shapes[X_IN]
    seq, batch = (x[0], x[1]) if spec.layout == 0 else (x[1], x[0])
    return 4 * _scratch_layout(spec, seq, batch)[1] + 64


def _state(a, d, layout):
    """Direction d of a [dirs, batch, hidden] (layout 0) or [batch, dirs, hidden] (layout 1) state tensor."""
    return a[d] if layout == 0 else a[:, d]


def _run(packed: Packed, p: Setup, ins, outs, scratch):
    spec = p.spec
    hid, layout = spec.hidden, spec.layout
    ins = list(ins) + [None] * (8 - len(ins))
    start = (-scratch.ctypes.data) % 64  # 64-byte aligned float32 view of the scratch bytes
    buf = scratch[start:start + 4 * p.floats].view(np.float32)
    sb = {name: buf[o:o + U.numel(shape)].reshape(shape) for name, (o, shape) in p.offsets.items()}
    xp = sb["xp"]
    np.matmul(ins[X_IN].reshape(-1, p.inp), packed.w.T, out=xp)  # every step, both directions: one GEMM
    lens = p.lens
    if ins[LENS_IN] is not None:  # copied into the plan's own buffer: one kernel type whatever stores it
        _check_lens(spec.op, ins[LENS_IN], p.seq)
        np.copyto(lens, ins[LENS_IN])
    y = outs[0].reshape(-1, hid) if p.has_y else p.no_y
    h = sb["h"]
    for d, backwards in enumerate(spec.directions):
        col0 = d * spec.gates * hid
        for st, i in ((h, H0_IN), (sb.get("c"), C0_IN)):
            if st is not None:
                if ins[i] is not None:
                    np.copyto(st, _state(ins[i], d, layout))
                else:
                    st.fill(0.0)
        common = (xp, col0, p.x_ts, p.x_bs)
        ys = (y, p.has_y, p.y_off[d], p.y_ts, p.y_bs, h)
        if spec.op == "LSTM":
            K.lstm(*common, packed.rt[d], packed.bias[d], packed.peep[d], lens, p.seq, backwards, _clip(spec),
                   spec.input_forget, *ys, sb["c"], sb["gates"])
        elif spec.op == "GRU":
            rt_zr, rt_h = packed.rt[d]
            gh = 2 * hid
            K.gru(*common, rt_zr, rt_h, packed.bias[d, :gh], packed.bias[d, gh:], packed.rb_h[d], packed.zero_h,
                  lens, p.seq, backwards, _clip(spec), spec.linear_before_reset, *ys, sb["acc_zr"], sb["acc_h"],
                  sb["rh"])
        else:
            K.rnn(*common, packed.rt[d], packed.bias[d], lens, p.seq, backwards, _clip(spec), *ys, sb["acc"])
        if p.has_yh:
            np.copyto(_state(outs[1], d, layout), h)
        if p.has_yc:
            np.copyto(_state(outs[2], d, layout), sb["c"])


def _clip(spec) -> float:
    return K.FLT_MAX if spec.clip is None else spec.clip


def _cost(ctx) -> float:
    spec = parse_spec(ctx.node, ctx.in_shapes[R_IN])
    x = ctx.in_shapes[X_IN]
    steps = int(x[0]) * int(x[1]) * spec.num_dir  # (time step, batch entry, direction) triples
    gh = spec.gates * spec.hidden
    project = gemm_cost_us(int(x[0]) * int(x[1]), int(x[2]), spec.num_dir * gh, ctx.blas_threads)
    recur = 2.0 * steps * gh * spec.hidden / (RECURRENT_GFLOPS * 1e3) + steps * spec.hidden * NS_PER_CELL / 1e3
    return project + recur + spec.num_dir * CALL_OVERHEAD_US


for _op in GATES:
    register_algorithm(Algorithm(
        _op, "numba", run=_run, cost=_cost, applies=_applies, pack=_pack, setup=_setup,
        weight_bytes=_weight_bytes, scratch_bytes=_scratch_bytes,
        doc="float32 with the default activations (LSTM sigmoid/tanh/tanh, GRU sigmoid/tanh, RNN tanh) and constant "
            "W/R/B/P: one BLAS GEMM projects every step, then per direction a Numba loop of h @ R^T + fused gates; "
            "other activations, run-time weights and other dtypes run the numpy reference"))
