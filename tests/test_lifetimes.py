"""Lifetime statistics: Kaplan-Meier and the censored Weibull fit that check the assumed hazard."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuhealth.analyzers.predict.lifetimes import fit_weibull, kaplan_meier, weibull_survival


def test_kaplan_meier_by_hand():
    # deaths at 1 and 3, one censored at 2: S(1) = 4/5, S(3) = 4/5 * (1 - 1/2)
    d = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    died = np.array([True, False, True, False, False])
    s = kaplan_meier(d, died, np.array([0.5, 1.0, 2.5, 3.0, 10.0]))
    assert np.allclose(s, [1.0, 0.8, 0.8, 0.8 * 2 / 3, 0.8 * 2 / 3])


@given(st.lists(st.tuples(st.floats(0.01, 100.0), st.booleans()), min_size=1, max_size=60))
def test_kaplan_meier_is_a_survival_curve(rows):
    d = np.array([r[0] for r in rows])
    died = np.array([r[1] for r in rows])
    at = np.linspace(0, 101, 50)
    s = kaplan_meier(d, died, at)
    assert (s >= 0).all() and (s <= 1).all() and (np.diff(s) <= 1e-12).all()
    if not died.any():
        assert (s == 1).all()
    if died.all():  # no censoring: the share still alive
        assert np.allclose(s, [(d > t).mean() for t in at])


def test_weibull_fit_recovers_shape_and_scale_under_censoring():
    rng = np.random.default_rng(1)
    life = rng.weibull(2.6, 20000) * 7.0
    seen = rng.uniform(0, 8, 20000)  # most GPUs still alive when last seen
    k, lam = fit_weibull(np.minimum(life, seen), life <= seen)
    assert k == pytest.approx(2.6, rel=0.05) and lam == pytest.approx(7.0, rel=0.05)
    assert weibull_survival(np.array([7.0]), k, lam)[0] == pytest.approx(np.exp(-1), rel=0.05)
    with pytest.raises(ValueError, match="no death"):
        fit_weibull(np.ones(3), np.zeros(3, dtype=bool))
