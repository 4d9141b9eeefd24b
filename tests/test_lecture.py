"""The seminar lecture's worked example, L(w1, w2) = w2 log w1 + sqrt(w2 log w1)."""

import numpy as np
import pytest

import ad


def L(w1, w2):
    return w2 * np.log(w1) + np.sqrt(w2 * np.log(w1))


def test_its_wengert_list_prints_as_in_the_lecture():
    lines = str(ad.trace(L, 2.0, 3.0)).splitlines()
    ops = [ln.split("#")[0].strip() for ln in lines[1:-1]]
    # w2 log w1 is computed once (the tracer merges equal equations), as in the lecture
    assert ops == [
        "v2 = log(v0)",
        "v3 = mul(v1, v2)",
        "v4 = sqrt(v3)",
        "v5 = add(v3, v4)",
    ]


@pytest.mark.parametrize("w1, w2", [(2.0, 3.0), (5.0, 0.5)])
def test_its_gradient_in_both_modes_matches_the_hand_derivation(w1, w2, engine):
    # v = w2 log w1;  L = v + sqrt(v);  dL/dv = 1 + 1 / (2 sqrt v)
    v = w2 * np.log(w1)
    dL_dv = 1 + 1 / (2 * np.sqrt(v))
    expected = np.array([dL_dv * w2 / w1, dL_dv * np.log(w1)])
    rev = np.array(ad.grad(L, (0, 1), engine=engine)(w1, w2))
    fwd = np.array(ad.jacfwd(L, (0, 1), engine=engine)(w1, w2))
    np.testing.assert_allclose(rev, expected, rtol=1e-14)
    np.testing.assert_allclose(fwd, expected, rtol=1e-14)
