"""fp16 activation storage inside kernels. Numba has no CPU float16 (not even a cast), so an fp16 tensor is
a uint16 array of IEEE half bits and kernels read and write it through `load`/`store`:

- for a float32 array they are plain `a[i]` / `a[i] = v` (inlined: the fp32 kernels compile exactly as before);
- for a uint16 array they convert with LLVM's own half<->float instructions (fpext/fptrunc; one vcvtph2ps /
  vcvtps2ph with F16C), exact both ways and round-to-nearest-even on store, as numpy's astype(float16).

So one kernel source serves both storages; Numba compiles (and caches) a separate specialisation per array
dtype. Compute stays fp32: only storage is halved."""

import functools
import platform

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload


@intrinsic
def half_to_float(typingctx, bits):
    """uint16 IEEE half bits -> float32 (exact)."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


@intrinsic
def float_to_half(typingctx, value):
    """float32 -> uint16 IEEE half bits (round to nearest even; overflow gives inf)."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return types.uint16(types.float32), codegen


def load(a, i):
    """a[i] as float32, whether a stores float32 or fp16 bits (uint16). The Python body serves callers
    outside Numba (and NUMBA_DISABLE_JIT=1); kernels get the overload below."""
    if a.dtype == np.uint16:
        return np.float32(np.uint16(a[i]).view(np.float16))
    return a[i]


def store(a, i, v):
    """a[i] = v, rounding to fp16 when a stores fp16 bits (uint16)."""
    if a.dtype == np.uint16:
        a[i] = np.float16(v).view(np.uint16)
    else:
        a[i] = v


@overload(load)
def _load(a, i):
    if isinstance(a, types.Array) and a.dtype == types.uint16:
        return lambda a, i: half_to_float(a[i])
    return lambda a, i: a[i]


@overload(store)
def _store(a, i, v):
    if isinstance(a, types.Array) and a.dtype == types.uint16:
        def impl(a, i, v):
            a[i] = float_to_half(np.float32(v))
        return impl

    def impl(a, i, v):
        a[i] = v
    return impl


@functools.lru_cache(maxsize=None)
def host_converts_fp16() -> bool:
    """True when LLVM lowers half<->float to instructions here. On x86 that needs F16C (every x86 CPU since
    2012); without it LLVM would call a compiler-rt routine Numba's JIT cannot link, so the planner keeps
    activations fp32 instead."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    from llvmlite import binding

    return bool(binding.get_host_cpu_features().get("f16c", False))
