import os
import sys

# Tests import helpers as `tests.harness`; make the repo root importable however pytest is invoked.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def conversion_cache(tmp_path_factory):
    """One jitmnn conversion cache (JITMNN_CACHE_DIR) per test module: each real model is converted once there;
    tests of the cache itself set their own."""
    folder = str(tmp_path_factory.mktemp("jitmnn-cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JITMNN_CACHE_DIR", folder)
        yield folder
