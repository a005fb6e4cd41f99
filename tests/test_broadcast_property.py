"""Property tests for the data-movement descriptions the Numba kernels trust blindly (a wrong stride is a
wrong answer or a segfault): random broadcast pairs through the binary kernel, random Slice/Transpose
through the strided copy, each against plain numpy."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.harness import Case, run_case
from tests.reference.shape_ops import REFERENCES

SLICE_REFERENCE = REFERENCES["Slice"]

settings.register_profile("kernels", deadline=None, max_examples=60, derandomize=True)
settings.load_profile("kernels")


@st.composite
def broadcast_pair(draw):
    rank = draw(st.integers(1, 5))
    out = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))

    def operand():
        r = draw(st.integers(0, rank))
        dims = out[rank - r:]
        return tuple(d if draw(st.booleans()) else 1 for d in dims)

    return operand(), operand()


@given(broadcast_pair(), st.sampled_from(["Add", "Sub", "Mul", "Div", "Max"]), st.booleans())
def test_binary_kernel_matches_numpy_broadcasting(shapes, op, first_const):
    rng = np.random.default_rng(abs(hash(shapes)) % 2**32)
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = (rng.standard_normal(shapes[1]) + 3).astype(np.float32)
    got = run_case(Case(op, [a, b], const_inputs=(0,) if first_const else (1,)), "numba")
    want = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Max": np.maximum}[op](a, b)
    if got is None:  # more than 4 alternating broadcast dims: the kernel declines, the reference runs
        return
    np.testing.assert_allclose(got[0], want, rtol=1e-6, atol=1e-6)


@st.composite
def slice_spec(draw):
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    axes = draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank, unique_by=lambda a: a % rank))
    starts = [draw(st.integers(-8, 8)) for _ in axes]
    ends = [draw(st.integers(-8, 8)) for _ in axes]
    steps = [draw(st.sampled_from([-3, -2, -1, 1, 2, 3])) for _ in axes]
    return shape, starts, ends, axes, steps


@given(slice_spec())
def test_slice_copy_matches_onnx_rule(spec):
    """Against the spec-following reference (Python slicing differs: for a negative step ONNX clamps a
    start below -dim to 0, Python makes the slice empty)."""
    shape, starts, ends, axes, steps = spec
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    args = [np.array(v, np.int64) for v in (starts, ends, axes, steps)]
    case = Case("Slice", [x] + args, const_inputs=(1, 2, 3, 4))
    want = SLICE_REFERENCE({}, [x] + args)[0]
    got = run_case(case, "numba")
    if want.size == 0:
        assert got is None or got[0].size == 0
        return
    np.testing.assert_array_equal(got[0], want)


@given(st.integers(1, 6).flatmap(lambda r: st.tuples(
    st.lists(st.integers(1, 4), min_size=r, max_size=r), st.permutations(list(range(r))))))
def test_transpose_copy_matches_numpy(spec):
    shape, perm = spec
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    got = run_case(Case("Transpose", [x], {"perm": list(perm)}), "numba")
    np.testing.assert_array_equal(got[0], np.transpose(x, perm))
