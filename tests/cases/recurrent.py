"""LSTM / GRU / RNN cases. Hidden sizes 1, 3, 13, 17 leave the kernels' four-rows-per-pass GEMV a remainder;
sequence_lens with 0 and 1 entries, both layouts and every direction; W, R, B, P constant as in real models
(the numba algorithm needs that), plus run-time weights and non-default activations for the reference."""

import numpy as np

from tests.harness import Case, rng

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def rnn_inputs(op, seq, batch, inp, hid, nd=1, seed=0, bias=True, lens=None, h0=False, c0=False, peep=False,
               layout=0, scale=0.4):
    """[X, W, R, B, sequence_lens, initial_h(, initial_c, P)] with None for an omitted input."""
    g = rng(seed)
    ng = GATES[op]
    f32 = lambda shape, s=1.0: (g.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    state = (nd, batch, hid) if layout == 0 else (batch, nd, hid)
    ins = [f32((seq, batch, inp) if layout == 0 else (batch, seq, inp)), f32((nd, ng * hid, inp), scale),
           f32((nd, ng * hid, hid), scale), f32((nd, 2 * ng * hid), scale) if bias else None,
           None if lens is None else np.array(lens, np.int32), f32(state) if h0 else None]
    if op == "LSTM":
        ins += [f32(state) if c0 else None, f32((nd, 3 * hid), scale) if peep else None]
    while ins[-1] is None:
        ins.pop()
    return ins


def case(op, attrs, id, n_outputs=None, const=(1, 2, 3, 7), **kw):
    ins = rnn_inputs(op, layout=attrs.get("layout", 0), **kw)
    return Case(op, ins, dict(attrs, hidden_size=kw["hid"]),
                const_inputs=tuple(i for i in const if i < len(ins) and ins[i] is not None), id=id,
                n_outputs=n_outputs or (3 if op == "LSTM" else 2))


BI = {"direction": "bidirectional"}
# layout=1 cases live in LAYOUT1_CASES (run by tests/test_recurrent_models.py): ONNX Runtime refuses layout=1
# ("batchwise recurrent operations are not supported"), so the one-node ORT comparison of tests/cases cannot
# take them; that test checks them against the references and against ORT on the transposed layout-0 model.
LAYOUT1_CASES = [
    case("LSTM", dict(BI, layout=1), "layout1-bidir", seq=5, batch=3, inp=4, hid=17, nd=2, seed=3, lens=[2, 5, 3],
         h0=True, c0=True, peep=True),
    case("GRU", dict(BI, layout=1, linear_before_reset=1), "layout1-bidir-lbr", seq=5, batch=3, inp=4, hid=17, nd=2,
         seed=13, lens=[5, 2, 4], h0=True),
    case("RNN", {"layout": 1, "direction": "reverse", "clip": 0.5}, "layout1-reverse-clip", seq=5, batch=2, inp=3,
         hid=13, seed=22, scale=1.5, h0=True),
    case("LSTM", {"layout": 1}, "layout1-Y-only", n_outputs=1, seq=6, batch=2, inp=3, hid=5, seed=8),
]
CASES = [
    case("LSTM", {}, "forward", seq=7, batch=3, inp=13, hid=17),
    case("LSTM", BI, "bidir-lens-states-peep", seq=9, batch=4, inp=5, hid=13, nd=2, seed=1, lens=[9, 4, 0, 1],
         h0=True, c0=True, peep=True),
    # clip bites only with large pre-activations: weights at scale 1.5
    case("LSTM", {"direction": "reverse", "clip": 0.6, "input_forget": 1}, "reverse-clip-input-forget", seq=6,
         batch=2, inp=3, hid=3, seed=2, scale=1.5, h0=True, c0=True, peep=True),
    case("LSTM", BI, "crnn-head", seq=40, batch=1, inp=48, hid=32, nd=2, seed=4, scale=0.2),
    case("LSTM", {}, "hidden1-no-bias-Y-only", n_outputs=1, seq=4, batch=2, inp=1, hid=1, seed=5, bias=False),
    case("LSTM", {}, "runtime-weights", const=(), seq=4, batch=2, inp=3, hid=5, seed=6, peep=True),
    case("LSTM", {"activations": ["HardSigmoid", "Tanh", "LeakyRelu"], "activation_alpha": [0.3, 0.05],
                  "activation_beta": [0.6]}, "activations", seq=4, batch=2, inp=3, hid=5, seed=7),
    case("GRU", {}, "forward", seq=7, batch=3, inp=13, hid=17, seed=10),
    case("GRU", BI, "bidir-lens-h0", seq=6, batch=4, inp=5, hid=13, nd=2, seed=11, lens=[6, 0, 3, 1], h0=True),
    case("GRU", {"direction": "reverse", "linear_before_reset": 1, "clip": 0.8}, "reverse-lbr-clip", seq=5,
         batch=2, inp=3, hid=3, seed=12, scale=1.5, h0=True),
    case("GRU", {"activations": ["HardSigmoid", "Softsign"]}, "activations", seq=4, batch=2, inp=3, hid=5, seed=14),
    case("RNN", {}, "forward", seq=7, batch=3, inp=13, hid=17, seed=20),
    case("RNN", BI, "bidir-lens-h0", seq=6, batch=3, inp=5, hid=13, nd=2, seed=21, lens=[1, 6, 0], h0=True),
    case("RNN", {"direction": "reverse", "clip": 0.5}, "reverse-clip-hidden1", seq=5, batch=2, inp=3, hid=1, seed=22,
         scale=1.5, h0=True),
    case("RNN", dict(BI, activations=["Relu", "Elu"], activation_alpha=[0.5]), "activations", seq=4, batch=2,
         inp=3, hid=5, nd=2, seed=23),
]
