"""The kernels' exp (``ad.kernels.elementwise._exp``): within 1 ulp of NumPy's exp
everywhere, exact where exp is exact, and NumPy's results at the delicate points
(overflow, underflow, subnormal results, infinities, NaN, signed zero).

Under ``NUMBA_DISABLE_JIT=1`` (the CI's second pass over ``tests/kernels``) the same
code runs as plain Python, so both builds are held to the same bounds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ad.kernels.elementwise import _exp

#: Just inside and outside the range where e^x is a normal, subnormal or finite number.
DELICATE = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    5e-324,
    -5e-324,
    1e-300,
    math.log(2.0),
    -math.log(2.0),
    709.782712893384,  # the largest x with e^x finite
    709.7827128933841,
    709.79,
    710.0,
    1e300,
    -708.3964185322641,  # e^x = the smallest normal number
    -708.4,
    -720.0,
    -744.44,
    -745.1332191019411,  # e^x rounds to the smallest subnormal
    -745.1332191019412,
    -746.0,
    -1e300,
]


def ulps(got: float, want: float) -> float:
    """|got - want| in units of the last place of ``want`` (0 when both agree)."""
    if got == want or (math.isnan(got) and math.isnan(want)):
        return 0.0
    if not math.isfinite(want) or not math.isfinite(got):
        return math.inf
    return abs(got - want) / float(np.spacing(abs(np.float64(want))))


@pytest.mark.parametrize("x", DELICATE)
def test_exp_at_its_delicate_points_is_within_one_ulp(x):
    with np.errstate(over="ignore"):
        want = float(np.exp(x))
    got = _exp(x)
    assert ulps(got, want) <= 1.0, (x, got, want)
    assert (got == 0.0) == (want == 0.0) and math.isinf(got) == math.isinf(want)


def test_exp_of_the_special_values():
    assert _exp(math.inf) == math.inf
    assert _exp(-math.inf) == 0.0
    assert math.isnan(_exp(math.nan))
    assert _exp(0.0) == 1.0 and _exp(-0.0) == 1.0


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-746.0, max_value=710.0, allow_nan=False))
def test_exp_is_within_one_ulp_of_numpy(x):
    with np.errstate(over="ignore"):
        want = float(np.exp(x))
    assert ulps(_exp(x), want) <= 1.0, x


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-1074, max_value=1023))
def test_exp_of_k_ln2_is_the_power_of_two_to_one_ulp(k):
    x = k * math.log(2.0)  # rounded: e^x is 2^k only to about |k| ulps of x
    with np.errstate(over="ignore"):
        want = float(np.exp(x))
    assert ulps(_exp(x), want) <= 1.0, k
