"""OI buildup classification."""

from __future__ import annotations

import math

import numpy as np
import pytest

from options.buildup import (
    LONG_BUILDUP,
    LONG_UNWINDING,
    NEUTRAL,
    NO_DATA,
    SHORT_BUILDUP,
    SHORT_COVERING,
    classify_buildup,
)


def test_the_four_quadrants() -> None:
    result = classify_buildup(
        [100.0, 100.0, 100.0, 100.0],
        [110.0, 90.0, 110.0, 90.0],
        [1000.0, 1000.0, 1000.0, 1000.0],
        [1200.0, 1200.0, 800.0, 800.0],
    )
    assert result.label.tolist() == [LONG_BUILDUP, SHORT_BUILDUP, SHORT_COVERING, LONG_UNWINDING]
    assert result.price_change_pct.tolist() == [10.0, -10.0, 10.0, -10.0]
    assert result.oi_change_pct.tolist() == [20.0, 20.0, -20.0, -20.0]


def test_neutral_bands_are_inclusive() -> None:
    # Default bands: 0.5 % on price, 1 % on OI.
    result = classify_buildup(
        [200.0] * 4, [201.0, 201.2, 201.2, 198.0], [1000.0] * 4, [1100.0, 1010.0, 1011.0, 989.0]
    )
    assert result.label.tolist() == [NEUTRAL, NEUTRAL, LONG_BUILDUP, LONG_UNWINDING]


def test_bands_are_configurable() -> None:
    args = ([100.0, 100.0], [103.0, 97.0], [1000.0, 1000.0], [1040.0, 1040.0])
    assert classify_buildup(*args).label.tolist() == [LONG_BUILDUP, SHORT_BUILDUP]
    assert classify_buildup(*args, price_band_pct=5.0).label.tolist() == [NEUTRAL, NEUTRAL]
    assert classify_buildup(*args, oi_band_pct=5.0).label.tolist() == [NEUTRAL, NEUTRAL]
    zero = classify_buildup(
        [100.0, 100.0], [100.0, 100.01], [10.0, 10.0], [11.0, 11.0], price_band_pct=0.0, oi_band_pct=0.0
    )
    assert zero.label.tolist() == [NEUTRAL, LONG_BUILDUP]


def test_missing_or_unusable_data() -> None:
    result = classify_buildup(
        [np.nan, 0.0, 100.0, 100.0],
        [110.0, 110.0, 110.0, 110.0],
        [1000.0, 1000.0, np.nan, -5.0],
        [1200.0, 1200.0, 1200.0, 1200.0],
    )
    assert result.label.tolist() == [NO_DATA] * 4


def test_new_open_interest_counts_as_a_rise() -> None:
    result = classify_buildup([100.0, 100.0], [90.0, 90.0], [0.0, 0.0], [500.0, 0.0])
    assert result.label.tolist() == [SHORT_BUILDUP, NEUTRAL]
    assert math.isnan(result.oi_change_pct[0])


def test_vectorised_shapes_and_broadcasting() -> None:
    rng = np.random.default_rng(7)
    p0 = rng.uniform(10, 500, (3, 400))
    o0 = rng.uniform(1e4, 1e6, (3, 400))
    result = classify_buildup(p0, p0 * 1.05, o0, o0 * 0.9)
    assert result.label.shape == (3, 400)
    assert set(result.label.ravel().tolist()) == {SHORT_COVERING}
    assert classify_buildup(100.0, 101.0, 10.0, 12.0).label.tolist() == LONG_BUILDUP


def test_negative_band_is_rejected() -> None:
    with pytest.raises(ValueError, match="band"):
        classify_buildup(1.0, 2.0, 1.0, 2.0, price_band_pct=-1.0)
