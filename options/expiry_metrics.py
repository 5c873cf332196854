"""Expiry-level metrics: put-call ratios, OI support/resistance, max pain.

Docs: /work/shared/DOMAIN.md, "Expiry-level metrics". Inputs are per-strike arrays of one expiry
(aligned: element i of every array belongs to strikes[i]); NaN means "not reported" and counts as 0
in sums. Ratios are None (JSON null) when the denominator is ≤ 0, never 0 or inf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from options.maxpain import max_pain


def _total(values: npt.ArrayLike) -> float:
    return float(np.nansum(np.asarray(values, dtype=np.float64)))


def ratio(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> float | None:
    """Σnumerator / Σdenominator, or None when Σdenominator ≤ 0 (or nothing is reported)."""
    den = _total(denominator)
    num = _total(numerator)
    if not den > 0 or not math.isfinite(num):
        return None
    return num / den


def oi_pcr(pe_oi: npt.ArrayLike, ce_oi: npt.ArrayLike) -> float | None:
    """OI put-call ratio ΣPE OI / ΣCE OI."""
    return ratio(pe_oi, ce_oi)


def volume_pcr(pe_volume: npt.ArrayLike, ce_volume: npt.ArrayLike) -> float | None:
    """Volume put-call ratio ΣPE volume / ΣCE volume."""
    return ratio(pe_volume, ce_volume)


def change_in_oi_pcr(pe_oi_change: npt.ArrayLike, ce_oi_change: npt.ArrayLike) -> float | None:
    """Change-in-OI put-call ratio ΣΔPE OI / ΣΔCE OI; None when call OI did not grow on net.

    The numerator may be negative (puts unwound while calls were added): the ratio is then negative.
    """
    return ratio(pe_oi_change, ce_oi_change)


def _strike_of_max(strikes: npt.ArrayLike, values: npt.ArrayLike) -> float | None:
    k = np.asarray(strikes, dtype=np.float64).ravel()
    v = np.nan_to_num(np.asarray(values, dtype=np.float64).ravel(), nan=0.0)
    if k.shape != v.shape:
        raise ValueError("strikes and values must have the same length")
    if v.size == 0 or not np.max(v) > 0:
        return None
    order = np.argsort(k, kind="stable")
    return float(k[order][int(np.argmax(v[order]))])  # first maximum = lowest strike


def support_resistance(
    strikes: npt.ArrayLike, ce_oi: npt.ArrayLike, pe_oi: npt.ArrayLike
) -> tuple[float | None, float | None]:
    """(support, resistance) = (strike of max PE OI, strike of max CE OI); ties to the lowest strike.

    None for a side with no positive OI.
    """
    return _strike_of_max(strikes, pe_oi), _strike_of_max(strikes, ce_oi)


@dataclass(frozen=True)
class ExpiryMetrics:
    """All expiry-level figures; every field is None when undefined (see the functions above)."""

    oi_pcr: float | None
    volume_pcr: float | None
    change_in_oi_pcr: float | None
    support: float | None
    resistance: float | None
    max_pain: float | None


def expiry_metrics(
    *,
    strikes: npt.ArrayLike,
    ce_oi: npt.ArrayLike,
    pe_oi: npt.ArrayLike,
    ce_volume: npt.ArrayLike,
    pe_volume: npt.ArrayLike,
    ce_oi_change: npt.ArrayLike,
    pe_oi_change: npt.ArrayLike,
) -> ExpiryMetrics:
    """Every expiry-level metric for one expiry's chain (per-strike aligned arrays)."""
    support, resistance = support_resistance(strikes, ce_oi, pe_oi)
    pain_strike, _ = max_pain(strikes, ce_oi, pe_oi)
    return ExpiryMetrics(
        oi_pcr=oi_pcr(pe_oi, ce_oi),
        volume_pcr=volume_pcr(pe_volume, ce_volume),
        change_in_oi_pcr=change_in_oi_pcr(pe_oi_change, ce_oi_change),
        support=support,
        resistance=resistance,
        max_pain=pain_strike,
    )
