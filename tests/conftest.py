"""Shared fixtures: the engines every derivative test runs on."""

import importlib.util

import numpy as np
import pytest

HAVE_KERNELS = importlib.util.find_spec("ad.kernels") is not None
ENGINES = [
    "reference",
    pytest.param(
        "compiled",
        marks=pytest.mark.skipif(not HAVE_KERNELS, reason="ad.kernels not built yet"),
    ),
]


@pytest.fixture(params=ENGINES)
def engine(request):
    """Each test using it runs on the NumPy reference and on the compiled kernels."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
