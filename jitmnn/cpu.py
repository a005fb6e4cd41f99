"""What this CPU can compute with, as LLVM (and so Numba) sees it: the planner picks bf16 kernels only where the
instructions exist, and `jitmnn knobs` / explain() say which tier a session gets.

Tiers for precision="low" matrix products, best first:
- "amx_bf16": AMX tiles (tdpbf16ps). Detected and reported; no AMX kernel exists yet, so it is never chosen.
- "avx512_bf16": vdpbf16ps, 32 bf16 multiply-adds per instruction into fp32 (kernels/gemm_bf16.py).
- "fp32": fp16/bf16 weight storage, fp32 compute (every x86-64 CPU with F16C).

Tests patch `bf16_tier` to check that a CPU without AVX512-BF16 never reaches the bf16 kernels; JITMNN_BF16=0
runs a whole process (e.g. the test suite) on the fp32 tier."""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

# Linux: a process must ask for AMX tile state before it may execute AMX instructions (arch_prctl(2)).
_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18
_SYS_ARCH_PRCTL = 158


@dataclass(frozen=True)
class CpuFeatures:
    name: str
    avx512f: bool
    avx512_bf16: bool
    avx512_fp16: bool
    amx_tile: bool
    amx_bf16: bool
    f16c: bool

    def describe(self) -> str:
        flags = [n for n in ("avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "f16c") if getattr(self, n)]
        return f"{self.name}: {' '.join(flags) or 'no AVX-512/AMX/F16C'}"


@functools.lru_cache(maxsize=None)
def features() -> CpuFeatures:
    """The host CPU's features as LLVM reports them (what Numba compiles for)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return CpuFeatures(platform.machine(), False, False, False, False, False, False)
    from llvmlite import binding

    f = binding.get_host_cpu_features()
    return CpuFeatures(binding.get_host_cpu_name(), bool(f.get("avx512f")), bool(f.get("avx512bf16")),
                       bool(f.get("avx512fp16")), bool(f.get("amx-tile")), bool(f.get("amx-bf16")),
                       bool(f.get("f16c")))


@functools.lru_cache(maxsize=None)
def amx_permitted() -> bool:
    """Ask Linux for AMX tile state (ARCH_REQ_XCOMP_PERM, XTILEDATA); False without AMX or when refused."""
    if not features().amx_tile or platform.system() != "Linux":
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(_SYS_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA) == 0


def bf16_tier() -> str:
    """The precision="low" compute tier the kernels implement on this CPU (see the module docstring).
    JITMNN_BF16=0 in the environment takes the fp32 tier on any CPU (to compare, or to run the whole test suite
    as a CPU without AVX512-BF16 would)."""
    f = features()
    if os.environ.get("JITMNN_BF16") == "0":
        return "fp32"
    if f.avx512f and f.avx512_bf16:
        return "avx512_bf16"
    return "fp32"


def report() -> str:
    f = features()
    amx = "no AMX" if not f.amx_tile else ("AMX permitted (no AMX kernel yet)" if amx_permitted() else "AMX refused by the OS")
    return f"{f.describe()}; precision=low computes with: {bf16_tier()}; {amx}"
