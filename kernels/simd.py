"""Explicit 16-lane float32 vectors (<16 x float>, one AVX-512 zmm register) for Numba kernels, through
numba.extending.intrinsic: a Numba type whose data model is the LLVM vector, and the four operations a GEMM
micro-kernel needs (load, broadcast, fused multiply-add, store). Plain Numba loops did not reach 512-bit FMAs
here (~20 GFLOP/s); explicit vectors let LLVM keep the accumulators in registers.

Bounds are not checked: callers index inside arrays whose sizes the Python wrapper has checked."""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, models, register_model

LANES = 16
_VEC = ir.VectorType(ir.FloatType(), LANES)


class Vec16f32(types.Type):
    def __init__(self):
        super().__init__(name="Vec16f32")


vec16 = Vec16f32()


@register_model(Vec16f32)
class _Vec16Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _element_pointer(context, builder, arr_ty, arr, idx):
    data = cgutils.create_struct_proxy(arr_ty)(context, builder, value=arr).data
    return builder.gep(data, [idx])


def _words_32bit(arr) -> bool:
    """float32 values, or uint32 words whose bits a kernel moves as they are (bf16 pairs: kernels/gemm_bf16.py)."""
    return isinstance(arr, types.Array) and arr.dtype in (types.float32, types.uint32)


def _splat(builder, x):
    """The float x in all 16 lanes."""
    one = builder.insert_element(ir.Constant(_VEC, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, ir.Constant(_VEC, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))


@intrinsic
def vload(typingctx, arr, idx):
    """arr[idx:idx + 16] as a vector (arr: 1-D contiguous float32, or uint32 words loaded bit for bit)."""
    if not (_words_32bit(arr) and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load(builder.bitcast(ptr, _VEC.as_pointer()), align=4)

    return vec16(arr, idx), codegen


@intrinsic
def vstore(typingctx, arr, idx, v):
    """arr[idx:idx + 16] = v."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.float32 and v == vec16):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], builder.bitcast(ptr, _VEC.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.none(arr, idx, v), codegen


@intrinsic
def vsplat(typingctx, x):
    """x in all 16 lanes."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return _splat(builder, args[0])

    return vec16(x), codegen


@intrinsic
def vbroadcast(typingctx, arr, idx):
    """arr[idx] in all 16 lanes, read straight from memory (no negative-index wrap-around check); a uint32 word is
    broadcast bit for bit."""
    if not (_words_32bit(arr) and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        return _splat(builder, builder.load(builder.bitcast(ptr, ir.FloatType().as_pointer()), align=4))

    return vec16(arr, idx), codegen


@intrinsic
def vzero(typingctx):
    def codegen(context, builder, sig, args):
        return ir.Constant(_VEC, [0.0] * LANES)

    return vec16(), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """a * b + c, lane by lane, one rounding (llvm.fma.v16f32: vfmadd231ps on AVX-512)."""
    if not (a == vec16 and b == vec16 and c == vec16):
        return None

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(_VEC, [_VEC, _VEC, _VEC])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.v16f32")
        return builder.call(fn, list(args))

    return vec16(a, b, c), codegen


@intrinsic
def vadd(typingctx, a, b):
    if not (a == vec16 and b == vec16):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])

    return vec16(a, b), codegen


@intrinsic
def vmax(typingctx, a, b):
    """Lane-wise a > b ? a : b (vmaxps; ReLU in a fused epilogue)."""
    if not (a == vec16 and b == vec16):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered(">", args[0], args[1]), args[0], args[1])

    return vec16(a, b), codegen


@intrinsic
def vmin(typingctx, a, b):
    """Lane-wise a < b ? a : b (vminps; clip and the hard activations in a fused epilogue)."""
    if not (a == vec16 and b == vec16):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered("<", args[0], args[1]), args[0], args[1])

    return vec16(a, b), codegen


@intrinsic
def vmul(typingctx, a, b):
    if not (a == vec16 and b == vec16):
        return None

    def codegen(context, builder, sig, args):
        return builder.fmul(args[0], args[1])

    return vec16(a, b), codegen
