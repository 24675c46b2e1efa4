"""`import unravel` from the build folder (tests/python/run_pytest.sh sets UNRAVEL_PYTHONPATH)."""
import os
import sys

import pytest

if not os.environ.get("UNRAVEL_PYTHONPATH"):
    pytest.skip("this build has no Python module (meson feature `python` found no pybind11)",
                allow_module_level=True)
sys.path.insert(0, os.environ["UNRAVEL_PYTHONPATH"])
import unravel  # noqa: E402


def test_imports_from_the_build_tree():
    assert os.path.dirname(unravel.__file__) == os.environ["UNRAVEL_PYTHONPATH"]
