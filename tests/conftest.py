import os
import sys

# Tests import helpers as `tests.harness`; make the repo root importable however pytest is invoked.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
