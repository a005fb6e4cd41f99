"""The one knob table: every tunable and flag lives here (listed by `jitmnn knobs`), plus the
session settings users pass to `jitmnn.load`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# Numba compile flags, shared by every kernel so they can be changed in one place.
# fastmath lets LLVM reassociate float sums (vectorised reductions); tolerance tiers allow for it.
FASTMATH = True
# fastmath without "reassoc", for kernels with no reductions to vectorise (the Winograd transforms): with reassoc,
# LLVM reassociated their sums differently in a freshly compiled kernel than in the same kernel loaded from the
# Numba cache (results 7.6e-6 apart on unit data), so two processes disagreed in the last bits.
FASTMATH_NO_REASSOC = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
NUMBA_CACHE = True
# Threads: a session's num_threads is the number of threads jitmnn computes with, and they are Numba's: with
# num_threads > 1 kernels run parallel regions (own-GEMM conv tiles, depthwise channels, elementwise chunks) and
# every BLAS call left (Winograd's batched GEMMs, MatMul/Gemm, ConvTranspose) runs on one thread, so OpenBLAS's
# spinning workers never alternate with Numba's (that clash stalled: PP-OCR det took 303 ms at 2 threads with
# both, 107 ms with BLAS threads alone, 93.6 at 1 thread). False: num_threads goes to BLAS only, Numba
# kernels run serially (the behaviour before the compute-core issue).
NUMBA_PARALLEL_KERNELS = True

# Bounded im2col: columns of the im2col matrix materialised at once (per thread) in memory="low"; the bound
# keeps scratch small whatever the feature map. 512 vs 256 columns: ResNet-18 low 62 -> 60 ms, +0.5 MB arena.
IM2COL_TILE_COLUMNS_LOW = 512
# ...and at most this many bytes of im2col columns (fewer columns for deep layers): the columns are the
# largest scratch of a low-memory plan (ResNet-18 layer2: 1152 rows x 512 columns = 2.4 MB without it).
IM2COL_TILE_BYTES_LOW = 1 << 20
IM2COL_MAX_SCRATCH_BYTES_NORMAL = 64 << 20
# memory="low" refuses any algorithm that keeps a weight copy larger than this (transformed, packed or
# dequantized weights); biases and depthwise filters stay under it. Compressed weights then run hybrid.
LOW_MEMORY_MAX_WEIGHT_COPY_BYTES = 256 << 10
# ...and among the rest prefers the least weight memory; copies within this slack of the leanest count as
# equal (a bias, a depthwise filter: MobileNetV2's largest is 35 KB), so a tiny copy never forces a much
# slower algorithm (grouped im2col for a depthwise layer took MobileNetV2 low from 22 to 70 ms).
LOW_MEMORY_WEIGHT_SLACK_BYTES = 64 << 10
# Hybrid (dequant-on-the-fly) kernels expand at most this much fp32 weight at a time: a layer whose fp32
# weight fits is expanded once per run and reused by every im2col tile; a bigger one goes panel by panel
# (rows rounded down to HYBRID_PANEL_ROW_MULTIPLE). Measured on ResNet-18's 3x3x512 layer (7x7 map): 64-row
# panels (1.2 MB) 4.7 ms, 128 rows (2.4 MB) 4.0, whole fp32 GEMM 2.8 -- each panel's GEMM re-packs the
# im2col tile, so fewer, larger panels win. ResNet-18 int8 low still adds 16.4 MB RSS (bar 30).
HYBRID_PANEL_BYTES = 5 << 19
HYBRID_PANEL_ROW_MULTIPLE = 16
# Arena alignment: 64 bytes is one cache line and one AVX-512 vector.
ARENA_ALIGN = 64
# im2col tile (output columns per GEMM) in memory=normal/high: 448 columns of a 3x3x64 conv (1 MB) stay in L2.
IM2COL_TILE_COLUMNS = 448
# ... widened for thin column matrices (few rows: C=3 stems, ConvTranspose with small K) up to this many
# bytes of columns per tile, so per-tile call overhead does not dominate (PP-OCR det: 229 tiles of 4 rows).
IM2COL_TILE_BYTES = 1 << 20

# jitmnn's own packed GEMM (kernels/gemm.py) splits C's 8-row panels across threads only when each thread
# gets at least this many multiply-adds (MLAS uses ~64K): a 13x37x45 GEMM ran 0.9x at 2 threads, 256x2304x196
# 2.1x (benchmarks/gemm.py).
GEMM_MIN_MACS_PER_THREAD = 1 << 16
# Conv "bf16" (precision=low on AVX512-BF16 CPUs) is costed at this fraction of im2col + BLAS: its GEMM ran
# 155-158 GFLOP/s vs 93-96 for the fp32 micro-kernel on 256x2304x196 (1 thread), plus the bf16 packing pass.
BF16_CONV_COST_FACTOR = 0.6
# Conv "bf16" with num_threads > 1 splits each tile's gather, packing and GEMM over Numba threads
# (_conv_tile_parallel). Off: with BLAS held to 1 thread, 2 threads took ResNet-18 27.6 -> 18.0 ms and ResNet-50
# 62.5 -> 42.0 ms but PP-OCR det 73.3 -> 91.5 ms (precision=low, fresh processes); with BLAS at 2 threads, whose
# spinning workers alternate with Numba's, all three ran slower than on 1 thread (40-146 ms). BLAS is now held to
# 1 thread whenever num_threads > 1 (NUMBA_PARALLEL_KERNELS), so only det's slowdown keeps this off; with it off a
# 2-thread precision=low plan costs bf16 at its 1-thread speed and takes own_gemm's threads where they win.
BF16_CONV_THREADS = False

PRECISIONS = ("low", "normal", "high")
MEMORY_MODES = ("low", "normal", "high")


def knobs() -> dict:
    """Every module-level knob above, for `jitmnn knobs`."""
    return {k: v for k, v in globals().items() if k.isupper()}


@dataclass(frozen=True)
class SessionConfig:
    """What a user chose for one loaded model. Validated on construction, so a typo fails loudly
    (MNN silently ignores a string memory mode)."""

    precision: str = "normal"
    memory: str = "normal"
    num_threads: int = 1
    memory_budget_mb: float | None = None
    # Force an algorithm: {"layer name" or "op type": "algorithm name"}; a layer name wins over an op type.
    overrides: dict = field(default_factory=dict)
    # Refuse NaN/inf inputs with an InputError. Off by default: non-finite values pass through as in ONNX
    # Runtime (attention masks hold -inf).
    check_finite: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.memory not in MEMORY_MODES:
            raise ValueError(f"memory must be one of {MEMORY_MODES}, got {self.memory!r}")
        if not isinstance(self.num_threads, int) or not 1 <= self.num_threads <= (os.cpu_count() or 1):
            raise ValueError(f"num_threads must be an int in 1..{os.cpu_count()}, got {self.num_threads!r}")
        if self.memory_budget_mb is not None and self.memory_budget_mb <= 0:
            raise ValueError("memory_budget_mb must be positive")
