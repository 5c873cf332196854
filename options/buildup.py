"""OI buildup classification over a window, vectorised over many contracts.

Docs: /work/shared/DOMAIN.md, "Expiry-level metrics". The caller picks the window and passes, per
contract, the price and open interest at its start and end (e.g. the first and last snapshot).

    price ↑, OI ↑  long buildup        price ↓, OI ↑  short buildup
    price ↑, OI ↓  short covering      price ↓, OI ↓  long unwinding

A move whose size is within its neutral band (|change %| ≤ band) counts as no move, and the
contract is "neutral" if either its price or its OI did not move. "no_data" when a value is missing
(NaN) or the starting price is ≤ 0. OI that starts at 0 and ends above it is a rise of undefined
percentage: it counts as "up" whatever the band, and its ``oi_change_pct`` is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

LONG_BUILDUP = "long_buildup"
SHORT_BUILDUP = "short_buildup"
SHORT_COVERING = "short_covering"
LONG_UNWINDING = "long_unwinding"
NEUTRAL = "neutral"
NO_DATA = "no_data"
LABELS = (LONG_BUILDUP, SHORT_BUILDUP, SHORT_COVERING, LONG_UNWINDING, NEUTRAL, NO_DATA)

# Below these moves (in percent) a change is treated as noise: half a percent of premium is about a
# tick on a 10-rupee option, and 1 % of OI is routine churn.
DEFAULT_PRICE_BAND_PCT = 0.5
DEFAULT_OI_BAND_PCT = 1.0
PERCENT = 100.0


@dataclass(frozen=True)
class Buildup:
    """``label`` per contract (one of LABELS) and the changes it was decided from (NaN if undefined)."""

    label: npt.NDArray[np.str_]
    price_change_pct: FloatArray
    oi_change_pct: FloatArray


def _direction(
    start: FloatArray, end: FloatArray, band_pct: float
) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """-1/0/+1 per element and the % change; 0 inside the band (inclusive)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        change_pct = np.where(start > 0, (end - start) / start * PERCENT, np.nan)
    direction = np.where(change_pct > band_pct, 1, np.where(change_pct < -band_pct, -1, 0)).astype(np.int8)
    return direction, change_pct


def classify_buildup(
    price_start: npt.ArrayLike,
    price_end: npt.ArrayLike,
    oi_start: npt.ArrayLike,
    oi_end: npt.ArrayLike,
    *,
    price_band_pct: float = DEFAULT_PRICE_BAND_PCT,
    oi_band_pct: float = DEFAULT_OI_BAND_PCT,
) -> Buildup:
    """Classify each contract's window; bands are in percent (0.5 = half a percent), inclusive."""
    if price_band_pct < 0 or oi_band_pct < 0:
        raise ValueError("neutral bands cannot be negative")
    p0, p1, o0, o1 = (
        np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(price_start, price_end, oi_start, oi_end)
    )
    price_dir, price_pct = _direction(p0, p1, price_band_pct)
    oi_dir, oi_pct = _direction(o0, o1, oi_band_pct)
    with np.errstate(invalid="ignore"):
        # New open interest where there was none is a rise of any size.
        oi_dir = np.where((o0 == 0) & (o1 > 0), np.int8(1), oi_dir)
        missing = np.isnan(p0) | np.isnan(p1) | np.isnan(o0) | np.isnan(o1) | ~(p0 > 0) | (o0 < 0) | (o1 < 0)

    label = np.select(
        [
            missing,
            (price_dir == 0) | (oi_dir == 0),
            (price_dir > 0) & (oi_dir > 0),
            (price_dir < 0) & (oi_dir > 0),
            (price_dir > 0) & (oi_dir < 0),
        ],
        [NO_DATA, NEUTRAL, LONG_BUILDUP, SHORT_BUILDUP, SHORT_COVERING],
        default=LONG_UNWINDING,
    )
    return Buildup(label=label, price_change_pct=price_pct, oi_change_pct=oi_pct)
