"""Numba kernels only: pure numeric loops plus thin checked wrappers. Nothing here compiles at import:
every kernel is a lazily compiled, cached `@njit`, and the planner checks shapes before any call."""
