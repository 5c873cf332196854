"""Put-call ratios, OI support/resistance and the combined expiry metrics."""

from __future__ import annotations

import numpy as np

from options.expiry_metrics import (
    ExpiryMetrics,
    change_in_oi_pcr,
    expiry_metrics,
    oi_pcr,
    support_resistance,
    volume_pcr,
)

STRIKES = [100.0, 110.0, 120.0, 130.0]
CE_OI = [20.0, 40.0, 20.0, 50.0]
PE_OI = [50.0, 40.0, 20.0, 50.0]


def test_oi_pcr_is_puts_over_calls() -> None:
    # 160 / 130
    assert oi_pcr(PE_OI, CE_OI) == 160.0 / 130.0
    assert oi_pcr([1.0, 1.0], [4.0, 4.0]) == 0.25


def test_volume_pcr() -> None:
    assert volume_pcr([300.0, 200.0], [100.0, 150.0]) == 2.0


def test_change_in_oi_pcr_can_be_negative() -> None:
    # Puts unwound by 30 while calls were added by 60.
    assert change_in_oi_pcr([-50.0, 20.0], [40.0, 20.0]) == -0.5


def test_ratios_are_null_without_a_positive_denominator() -> None:
    assert oi_pcr([10.0], [0.0]) is None
    assert volume_pcr([10.0], []) is None
    assert change_in_oi_pcr([10.0, 5.0], [20.0, -20.0]) is None  # calls net flat
    assert change_in_oi_pcr([10.0], [-5.0]) is None  # calls net unwound
    assert oi_pcr([10.0], [np.nan]) is None


def test_missing_values_count_as_zero() -> None:
    assert oi_pcr([10.0, np.nan], [np.nan, 40.0]) == 0.25


def test_support_and_resistance() -> None:
    # Max PE OI 50 at 100 and 130: tie to the lowest strike. Max CE OI 50 at 130.
    assert support_resistance(STRIKES, CE_OI, PE_OI) == (100.0, 130.0)
    assert support_resistance([130.0, 100.0], [5.0, 5.0], [1.0, 2.0]) == (100.0, 100.0)
    assert support_resistance(STRIKES, [0.0] * 4, [np.nan] * 4) == (None, None)
    assert support_resistance([], [], []) == (None, None)


def test_expiry_metrics_combined() -> None:
    metrics = expiry_metrics(
        strikes=STRIKES,
        ce_oi=CE_OI,
        pe_oi=PE_OI,
        ce_volume=[10.0, 10.0, 10.0, 10.0],
        pe_volume=[5.0, 5.0, 5.0, 5.0],
        ce_oi_change=[0.0, 0.0, 0.0, 0.0],
        pe_oi_change=[1.0, 0.0, 0.0, 0.0],
    )
    assert metrics == ExpiryMetrics(
        oi_pcr=160.0 / 130.0,
        volume_pcr=0.5,
        change_in_oi_pcr=None,
        support=100.0,
        resistance=130.0,
        max_pain=120.0,
    )
