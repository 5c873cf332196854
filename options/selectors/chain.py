"""The option chain of an expiry, live or as of a time, as a JSON-ready dict (docs/options.md).

Live (`at` omitted): the bars up to the forming minute, overlaid with the last-price hash (LTP,
bid/ask, OI, day volume of every newer tick); T runs to now. As of `at`: only minutes closed by
`at` (bars whose minute ended at or before it), no quotes (bid/ask are not stored); T runs to `at`.
So `at` = a minute's close reproduces what the per-minute job computed for that minute (except that
the job, when live, also used the bid/ask mid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from django.utils import timezone

from options.analytics import ChainSnapshot, SideResult, analyse_chain, total
from options.chains import Chain, chain_or_404, window
from options.expiry_labels import expiry_label
from options.jsonvalues import nullable_floats, nullable_ints
from options.parameters import basis_holidays, pricing_parameters
from options.selectors.chain_inputs import QuoteMode, chain_inputs, floor_minute
from tradeviz.errors import InvalidInput

MINUTE = timedelta(minutes=1)
MAX_STRIKES_EACH_SIDE = 500
SIDE_FIELDS = ("ltp", "bid", "ask", "price", "iv", "delta", "gamma", "theta", "vega")
COUNT_FIELDS = ("oi", "oi_change", "volume")


def snapshot_chains(
    chains: Sequence[Chain],
    *,
    at: datetime | None = None,
    now: datetime | None = None,
    quotes: QuoteMode | None = None,
) -> list[ChainSnapshot]:
    """Analytics of each chain, live (`at` None) or as of `at`; see the module docstring."""
    params = pricing_parameters()
    current = now or timezone.now()
    if at is None:
        minute, as_of, mode = floor_minute(current), current, quotes or "full"
    else:
        if at > current:
            raise InvalidInput("at is in the future; omit it for the live chain.")
        minute, as_of, mode = floor_minute(at) - MINUTE, at, quotes or "none"
    states = chain_inputs(chains, minute=minute, quotes=mode)
    return [
        analyse_chain(
            state,
            as_of=as_of,
            rate=params.rate,
            basis_days=params.basis_days,
            holidays=basis_holidays(params.basis_days, as_of.date(), state.chain.effective_expiry),
            max_spread_frac=params.max_spread_frac,
        )
        for state in states
    ]


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _side_rows(
    side: SideResult, tokens: npt.NDArray[np.int64], symbols: tuple[str, ...], sl: slice
) -> list[dict[str, Any] | None]:
    columns = {name: nullable_floats(getattr(side, name)[sl]) for name in SIDE_FIELDS}
    counts = {name: nullable_ints(getattr(side, name)[sl]) for name in COUNT_FIELDS}
    sources = side.price_source[sl].tolist()
    reasons = side.iv_reason[sl].tolist()
    listed = side.listed[sl].tolist()
    token_list = tokens[sl].tolist()
    symbol_list = symbols[sl]
    rows: list[dict[str, Any] | None] = []
    for i, is_listed in enumerate(listed):
        if not is_listed:
            rows.append(None)
            continue
        row: dict[str, Any] = {"token": token_list[i], "tradingsymbol": symbol_list[i]}
        for name in SIDE_FIELDS:
            row[name] = columns[name][i]
        row["price_source"] = sources[i]
        row["iv_reason"] = reasons[i]
        for name in COUNT_FIELDS:
            row[name] = counts[name][i]
        rows.append(row)
    return rows


def chain_payload(snapshot: ChainSnapshot, *, each_side: int = 0) -> dict[str, Any]:
    """The option-chain JSON: headline figures, then the rows ATM ± `each_side` (0: every strike)."""
    chain = snapshot.chain
    sl = window(chain, centre=snapshot.atm_index, each_side=each_side)
    strikes = chain.strikes[sl].tolist()
    ce_rows = _side_rows(snapshot.ce, chain.ce_token, chain.ce_symbol, sl)
    pe_rows = _side_rows(snapshot.pe, chain.pe_token, chain.pe_symbol, sl)
    m = snapshot.metrics
    return {
        "underlying": chain.underlying,
        "expiry": chain.expiry.isoformat(),
        "effective_expiry": chain.effective_expiry.isoformat(),
        "expiry_label": expiry_label(chain),
        "exchange": chain.exchange,
        "lot_size": chain.lot_size,
        "tick_size": chain.tick,
        "as_of": snapshot.as_of.isoformat(),
        "minute": snapshot.minute.isoformat(),
        "live": snapshot.live,
        "spot": _num(snapshot.spot),
        "spot_prev_close": _num(snapshot.spot_prev_close),
        "futures_price": _num(snapshot.futures_price),
        "synthetic_forward": _num(snapshot.synthetic_forward),
        "forward": _num(snapshot.forward),
        "forward_source": snapshot.forward_source,
        "greeks_basis": snapshot.greeks_basis,
        "rate": snapshot.rate,
        "day_count_basis": snapshot.basis_days,
        "t_years": snapshot.t_years,
        "atm_strike": snapshot.atm_strike,
        "atm_iv": _num(snapshot.atm_iv),
        "straddle": _num(snapshot.straddle),
        "pcr_oi": m.oi_pcr,
        "pcr_volume": m.volume_pcr,
        "pcr_oi_change": m.change_in_oi_pcr,
        "max_pain": m.max_pain,
        "support": m.support,
        "resistance": m.resistance,
        "total_ce_oi": total(snapshot.ce.oi),
        "total_pe_oi": total(snapshot.pe.oi),
        "total_ce_oi_change": total(snapshot.ce.oi_change),
        "total_pe_oi_change": total(snapshot.pe.oi_change),
        "total_ce_volume": total(snapshot.ce.volume),
        "total_pe_volume": total(snapshot.pe.volume),
        "strikes_total": chain.size,
        "rows": [
            {"strike": k, "ce": ce, "pe": pe} for k, ce, pe in zip(strikes, ce_rows, pe_rows, strict=True)
        ],
    }


def option_chain(*, underlying: str, expiry: Any, at: datetime | None, strikes: int) -> dict[str, Any]:
    """The chain API's body; NotFound for an unknown underlying or expiry."""
    if not 0 <= strikes <= MAX_STRIKES_EACH_SIDE:
        raise InvalidInput(f"strikes must be between 0 and {MAX_STRIKES_EACH_SIDE}")
    chain = chain_or_404(underlying, expiry)
    (snapshot,) = snapshot_chains([chain], at=at)
    return chain_payload(snapshot, each_side=strikes)
