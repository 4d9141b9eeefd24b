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


def _in_threads(ok, items, threads=4):
    """Run ``ok(item)`` over ``items`` split among ``threads`` threads at once; the items
    for which it returned False."""
    import threading

    wrong = []

    def work(part):
        wrong.extend(x for x in part if not ok(x))

    ts = [threading.Thread(target=work, args=(items[k::threads],)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return wrong


@pytest.fixture
def in_threads():
    """:func:`_in_threads`: concurrent calls, and which of them answered wrongly."""
    return _in_threads
