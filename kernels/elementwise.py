"""Binary broadcast elementwise ops (Add, Sub, Mul, Div, Pow, Max, Min) over flat float32 buffers (any of
them may store fp16 as uint16 bits, see half.py).

Broadcasting is resolved in Python (jitmnn/ops/elementwise.py `collapse`): the output is viewed as a
4-D box, each operand gets element strides in that box (0 on broadcast dims), and adjacent dims with the
same broadcast pattern are merged first. So one signature serves every pattern, and the innermost row is
one of three shapes that LLVM vectorises: a[i] op b[i], a[i] op s, s op b[i]."""

import numpy as np
from numba import prange

from ._jit import kernel
from .half import load, store

ADD, SUB, MUL, DIV, POW, MAX, MIN, PRELU = range(8)
CODES = {"Add": ADD, "Sub": SUB, "Mul": MUL, "Div": DIV, "Pow": POW, "Max": MAX, "Min": MIN, "PRelu": PRELU}


@kernel
def _f(x, y, op):
    if op == ADD:
        return x + y
    if op == SUB:
        return x - y
    if op == MUL:
        return x * y
    if op == DIV:
        return x / y
    if op == POW:
        return x ** y
    if op == MAX:
        return x if x >= y else y
    if op == MIN:
        return x if x <= y else y
    return x if x >= np.float32(0.0) else x * y  # PRELU: y is the slope


@kernel
def _row(a, ao, sa, b, bo, sb, out, oo, n, op):
    """out[oo:oo+n] = a[ao + i*sa] op b[bo + i*sb]. Add/Sub/Mul/Div (and x^2) get one loop per stride
    pattern, over row slices indexed from 0 (no wraparound checks) with the branch outside the loop, so
    they vectorise; the rarer ops share one generic loop (each vectorised loop costs compile time)."""
    o = out[oo:oo + n]
    if op > DIV and not (op == POW and sb == 0 and load(b, bo) == np.float32(2.0)):
        for i in range(n):
            store(o, i, _f(load(a, ao + i * sa), load(b, bo + i * sb), op))
    elif sa == 1 and sb == 1:
        x = a[ao:ao + n]
        y = b[bo:bo + n]
        if op == ADD:
            for i in range(n):
                store(o, i, load(x, i) + load(y, i))
        elif op == SUB:
            for i in range(n):
                store(o, i, load(x, i) - load(y, i))
        elif op == MUL:
            for i in range(n):
                store(o, i, load(x, i) * load(y, i))
        else:
            for i in range(n):
                store(o, i, load(x, i) / load(y, i))
    elif sa == 1 and sb == 0:
        x = a[ao:ao + n]
        s = load(b, bo)
        if op == ADD:
            for i in range(n):
                store(o, i, load(x, i) + s)
        elif op == SUB:
            for i in range(n):
                store(o, i, load(x, i) - s)
        elif op == MUL:
            for i in range(n):
                store(o, i, load(x, i) * s)
        elif op == DIV:
            # x / s, not x * (1/s): keeps results bit-identical to the reference's rounding.
            for i in range(n):
                store(o, i, load(x, i) / s)
        else:  # POW by a constant 2 (LayerNorm's variance in exported graphs)
            for i in range(n):
                store(o, i, load(x, i) * load(x, i))
    elif sa == 0 and sb == 1:
        s = load(a, ao)
        y = b[bo:bo + n]
        if op == ADD:
            for i in range(n):
                store(o, i, s + load(y, i))
        elif op == SUB:
            for i in range(n):
                store(o, i, s - load(y, i))
        elif op == MUL:
            for i in range(n):
                store(o, i, s * load(y, i))
        else:
            for i in range(n):
                store(o, i, s / load(y, i))
    else:
        for i in range(n):
            store(o, i, _f(load(a, ao + i * sa), load(b, bo + i * sb), op))


@kernel
def binary(a, b, out, shape, sa, sb, op):
    """out (flat, the 4-D box `shape`) = a op b; sa/sb are int64[4] element strides (0 = broadcast)."""
    n0, n1, n2, n3 = shape[0], shape[1], shape[2], shape[3]
    o = 0
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                ao = i0 * sa[0] + i1 * sa[1] + i2 * sa[2]
                bo = i0 * sb[0] + i1 * sb[1] + i2 * sb[2]
                _row(a, ao, sa[3], b, bo, sb[3], out, o, n3, op)
                o += n3


@kernel(parallel=True)
def binary_parallel(a, b, out, shape, sa, sb, op, nsplit):
    """binary() with rows (and each row cut into `nsplit` pieces) spread over threads."""
    n0, n1, n2, n3 = shape[0], shape[1], shape[2], shape[3]
    rows = n0 * n1 * n2
    piece = (n3 + nsplit - 1) // nsplit
    for t in prange(rows * nsplit):
        r = t // nsplit
        k = t - r * nsplit
        i2 = r % n2
        i1 = (r // n2) % n1
        i0 = r // (n1 * n2)
        start = k * piece
        stop = min(start + piece, n3)
        if start < stop:
            ao = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + start * sa[3]
            bo = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + start * sb[3]
            _row(a, ao, sa[3], b, bo, sb[3], out, r * n3 + start, stop - start, op)
