"""Data movement: one strided-copy kernel serves Transpose, Slice (any steps), Concat, Split, Expand, Pad
and Gather. The Python side (jitmnn/ops/shape_ops.py) describes each copy as a box of up to 6 dims with
element strides for source and destination (0 = repeat for Expand, negative for reversed Slice) and
merges dims that are contiguous in both first, so a copy is usually one or two long contiguous rows."""

from ._jit import kernel


@kernel
def copy_strided(src, s_off, s_str, dst, d_off, d_str, shape):
    """dst[d_off + sum(i_k*d_str[k])] = src[s_off + sum(i_k*s_str[k])] over the 6-D box `shape`."""
    n0, n1, n2, n3, n4, n5 = shape[0], shape[1], shape[2], shape[3], shape[4], shape[5]
    ss5 = s_str[5]
    ds5 = d_str[5]
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                for i3 in range(n3):
                    for i4 in range(n4):
                        so = s_off + i0 * s_str[0] + i1 * s_str[1] + i2 * s_str[2] + i3 * s_str[3] + i4 * s_str[4]
                        do = d_off + i0 * d_str[0] + i1 * d_str[1] + i2 * d_str[2] + i3 * d_str[3] + i4 * d_str[4]
                        if ss5 == 1 and ds5 == 1:
                            # Row slices indexed from 0: no wraparound checks, so the copy vectorises.
                            d = dst[do:do + n5]
                            s = src[so:so + n5]
                            for i in range(n5):
                                d[i] = s[i]
                        elif ss5 == 0 and ds5 == 1:
                            v = src[so]
                            d = dst[do:do + n5]
                            for i in range(n5):
                                d[i] = v
                        elif ds5 == 1:
                            d = dst[do:do + n5]
                            for i in range(n5):
                                d[i] = src[so + i * ss5]
                        else:
                            for i in range(n5):
                                dst[do + i * ds5] = src[so + i * ss5]
