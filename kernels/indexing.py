"""Index-driven kernels: ScatterND, GatherND, TopK (float32 data, int64 indices).

Indices are run-time data, so each kernel checks every index against its dimension before it touches
memory and returns the position of the first bad one (-1 when all are in range); the Python wrappers in
jitmnn/ops/indexing.py turn that into a typed error. Negative indices count from the end (ONNX)."""


from ._jit import helper, kernel

# Reduction codes shared with jitmnn/ops/indexing.py (ONNX ScatterND/ScatterElements `reduction`).
R_NONE, R_ADD, R_MUL, R_MAX, R_MIN = 0, 1, 2, 3, 4


@helper
def _offset(idx, m, dims, strides):
    """Flat offset of the index tuple idx[m, :] (dims/strides of the indexed leading axes), or -1."""
    off = 0
    for j in range(dims.shape[0]):
        v = idx[m, j]
        if v < 0:
            v += dims[j]
        if v < 0 or v >= dims[j]:
            return -1
        off += v * strides[j]
    return off


@kernel
def scatter_nd(out, idx, upd, dims, strides, reduction):
    """out (flat, already holding data)[offset(idx[m]) + s] (op)= upd[m, s]; updates in index order, so
    with duplicate indices and no reduction the last one wins (as ONNX Runtime does)."""
    M = idx.shape[0]
    S = upd.shape[1]
    for m in range(M):
        off = _offset(idx, m, dims, strides)
        if off < 0:
            return m
        for s in range(S):
            u = upd[m, s]
            if reduction == R_NONE:
                out[off + s] = u
            elif reduction == R_ADD:
                out[off + s] += u
            elif reduction == R_MUL:
                out[off + s] *= u
            elif reduction == R_MAX:
                if u > out[off + s]:
                    out[off + s] = u
            else:
                if u < out[off + s]:
                    out[off + s] = u
    return -1


@kernel
def gather_nd(data, idx, out, dims, strides):
    """out[b, m, :] = data[b, offset(idx[b, m]) : + S] for data [B, rest] and idx [B, M, k]."""
    B, M = idx.shape[0], idx.shape[1]
    S = out.shape[2]
    for b in range(B):
        ib = idx[b]
        db = data[b]
        for m in range(M):
            off = _offset(ib, m, dims, strides)
            if off < 0:
                return b * M + m
            orow = out[b, m]
            for s in range(S):
                orow[s] = db[off + s]
    return -1


@helper
def _better(x, a, b, largest):
    """Does element a rank before element b? Larger (or smaller) value first; ties: lower index first."""
    if largest:
        return x[a] > x[b] or (x[a] == x[b] and a < b)
    return x[a] < x[b] or (x[a] == x[b] and a < b)


@helper
def _sift_down(heap, start, n, x, largest):
    """Restore the heap below `start`; the root holds the element that ranks last (the one to evict)."""
    i = start
    while True:
        worst = i
        left = 2 * i + 1
        right = left + 1
        if left < n and _better(x, heap[worst], heap[left], largest):
            worst = left
        if right < n and _better(x, heap[worst], heap[right], largest):
            worst = right
        if worst == i:
            return
        t = heap[i]
        heap[i] = heap[worst]
        heap[worst] = t
        i = worst


@kernel
def topk(x, vals, inds, heap, largest):
    """TopK along the middle axis of x [O, N, I] into vals/inds [O, K, I], best first.
    A K-element heap whose root is the worst kept element (O(N log K) per row), then heapsort."""
    O, N, I = x.shape
    K = vals.shape[1]
    for o in range(O):
        for i in range(I):
            row = x[o, :, i]
            for j in range(K):
                heap[j] = j
            for j in range(K // 2 - 1, -1, -1):
                _sift_down(heap, j, K, row, largest)
            for j in range(K, N):
                if _better(row, j, heap[0], largest):
                    heap[0] = j
                    _sift_down(heap, 0, K, row, largest)
            for end in range(K - 1, 0, -1):  # pop the worst to the back: best ends up first
                t = heap[0]
                heap[0] = heap[end]
                heap[end] = t
                _sift_down(heap, 0, end, row, largest)
            for j in range(K):
                vals[o, j, i] = row[heap[j]]
                inds[o, j, i] = heap[j]
