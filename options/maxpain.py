"""Max pain of an expiry (docs: /work/shared/DOMAIN.md, "Expiry-level metrics").

For every listed strike X, the total intrinsic value option writers would pay if the underlying
settled at X:

    pain(X) = Σ_K [ CE_OI(K)·max(0, X - K) + PE_OI(K)·max(0, K - X) ]

Max pain is the listed strike with the least pain, ties to the lowest strike. Pain is in
OI units x rupees (contracts or shares, whichever the OI is quoted in, times points).

Two classic bugs this module is tested against: swapping the max() arguments (calls paying when the
price is *below* the strike), and returning the strike with the most OI.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Exact integer arithmetic is used when strikes are whole paise and OI whole numbers: ties (common on
# symmetric chains) are then decided exactly, identically to the brute force definition.
PAISE_PER_RUPEE = 100
# Keep every partial sum of OI·strike (in paise) well inside int64.
_INT64_HEADROOM = 2**62


def _validate(
    strikes: npt.ArrayLike, ce_oi: npt.ArrayLike, pe_oi: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    k = np.asarray(strikes, dtype=np.float64).ravel()
    ce = np.asarray(ce_oi, dtype=np.float64).ravel()
    pe = np.asarray(pe_oi, dtype=np.float64).ravel()
    if not (k.shape == ce.shape == pe.shape):
        raise ValueError("strikes, ce_oi and pe_oi must have the same length")
    if not np.all(np.isfinite(k)):
        raise ValueError("strikes must be finite")
    # A strike with no OI reported has no open contracts.
    ce = np.nan_to_num(ce, nan=0.0)
    pe = np.nan_to_num(pe, nan=0.0)
    if np.any(ce < 0) or np.any(pe < 0):
        raise ValueError("open interest cannot be negative")
    return k, ce, pe


def pain_brute_force(strikes: npt.ArrayLike, ce_oi: npt.ArrayLike, pe_oi: npt.ArrayLike) -> FloatArray:
    """pain(X) for every listed strike X, straight from the definition: O(n²) time and memory.

    The reference implementation for tests; use :func:`max_pain` in production.
    """
    k, ce, pe = _validate(strikes, ce_oi, pe_oi)
    settle = k[:, None]  # rows: candidate settlement X; columns: strike K
    pain: FloatArray = (
        ce[None, :] * np.maximum(0.0, settle - k[None, :])
        + pe[None, :] * np.maximum(0.0, k[None, :] - settle)
    ).sum(axis=1)
    return pain


def _pain_sorted(
    k: npt.NDArray[np.float64] | npt.NDArray[np.int64],
    ce: npt.NDArray[np.float64] | npt.NDArray[np.int64],
    pe: npt.NDArray[np.float64] | npt.NDArray[np.int64],
) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
    """pain at each of the sorted strikes k, by prefix sums: O(n).

    For X = k[j], calls at K ≤ X pay X - K and puts at K ≥ X pay K - X (strikes equal to X pay 0 either
    way, so duplicates need no special care):
        pain_j = X·ΣCE(≤j) - Σ(CE·K)(≤j) + Σ(PE·K)(≥j) - X·ΣPE(≥j)
    """
    ce_count = np.cumsum(ce)
    ce_value = np.cumsum(ce * k)
    pe_count = np.cumsum(pe[::-1])[::-1]
    pe_value = np.cumsum((pe * k)[::-1])[::-1]
    return k * ce_count - ce_value + pe_value - k * pe_count


def max_pain(
    strikes: npt.ArrayLike, ce_oi: npt.ArrayLike, pe_oi: npt.ArrayLike
) -> tuple[float | None, FloatArray]:
    """(max-pain strike, pain at every strike in the input order), in O(n log n).

    Returns (None, pains) when there is no open interest at all (every strike has zero pain, so
    there is no meaningful answer) and (None, empty) for an empty chain. NaN OI counts as 0;
    negative OI or non-finite strikes raise ValueError.
    """
    k, ce, pe = _validate(strikes, ce_oi, pe_oi)
    if k.size == 0:
        return None, np.zeros(0)
    order = np.argsort(k, kind="stable")
    ks, ces, pes = k[order], ce[order], pe[order]

    paise = np.round(ks * PAISE_PER_RUPEE)
    whole = (
        np.all(paise == ks * PAISE_PER_RUPEE)
        and np.all(ces == np.round(ces))
        and np.all(pes == np.round(pes))
    )
    span = float(np.max(np.abs(paise))) if whole else 0.0
    if whole and (float(ces.sum()) + float(pes.sum())) * max(span, 1.0) * 2 < _INT64_HEADROOM:
        pain_int = _pain_sorted(paise.astype(np.int64), ces.astype(np.int64), pes.astype(np.int64))
        best = int(np.argmin(pain_int))  # first minimum = lowest strike
        pain_sorted = pain_int.astype(np.float64) / PAISE_PER_RUPEE
    else:
        pain_sorted = _pain_sorted(ks, ces, pes).astype(np.float64)
        best = int(np.argmin(pain_sorted))

    pain = np.empty_like(pain_sorted)
    pain[order] = pain_sorted
    if not (np.any(ce > 0) or np.any(pe > 0)):
        return None, pain
    return float(ks[best]), pain
