"""Runs the C tests of native/tests/ (ctest) from pytest: builds them with CMake into
build/ctest (incremental) when cmake and a C compiler are available, skips otherwise."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "ctest"


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("cc") is None, reason="cmake or cc not available")
def test_native_c_tests():
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(BUILD), *gen, "-DLOADRUN_TESTS=ON"], check=True,
                   capture_output=True, timeout=300)
    subprocess.run(["cmake", "--build", str(BUILD), "--target", "test_native", "-j", "2"], check=True,
                   capture_output=True, timeout=600)
    proc = subprocess.run(["ctest", "--output-on-failure"], cwd=BUILD, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
