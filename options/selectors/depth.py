"""Market-depth metrics from the latest tick of a token in the last-price hash.

The tick consumer keeps each token's last tick in `tv:ltp` (`marketdata.last_prices`); when the tick
carried a `depth` object (`{"buy": [[price, qty, orders], …], "sell": […]}`, the tick-stream
contract) it is used here. No depth yet is NotFound, not an error of the server.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from marketdata.last_prices import read_last_prices
from marketdata.models import Instrument
from options.depth import DEFAULT_DEPTH_LEVELS, depth_metrics, impact_cost
from tradeviz.errors import NotFound, UpstreamUnavailable

logger = logging.getLogger(__name__)


def _levels(raw: Any) -> list[list[float]]:
    if not isinstance(raw, list):
        return []
    return [list(level) for level in raw if isinstance(level, list | tuple)]


def market_depth(*, token: int, quantity: float | None, levels: int = DEFAULT_DEPTH_LEVELS) -> dict[str, Any]:
    """Spread, imbalances, microprice and impact cost of `quantity` (default: one lot) for `token`."""
    instrument = Instrument.objects.filter(instrument_token=token).first()
    if instrument is None:
        raise NotFound(f"Unknown instrument token {token}.")
    try:
        tick = read_last_prices([token]).get(token)
    except Exception as exc:
        logger.warning("market depth: last-price hash unavailable", exc_info=True, extra={"token": token})
        raise UpstreamUnavailable("Live prices are unavailable right now.") from exc
    depth = tick.get("depth") if tick else None
    if not isinstance(depth, dict) or not (depth.get("buy") or depth.get("sell")):
        raise NotFound("no depth yet", details={"token": token})
    buy, sell = _levels(depth.get("buy")), _levels(depth.get("sell"))
    size = float(quantity if quantity is not None else instrument.lot_size)
    metrics = depth_metrics(buy, sell, levels=levels)
    impact_buy = impact_cost(buy, sell, quantity=size, side="buy")
    impact_sell = impact_cost(buy, sell, quantity=size, side="sell")
    average = (
        (impact_buy.impact_pct + impact_sell.impact_pct) / 2
        if impact_buy.impact_pct is not None and impact_sell.impact_pct is not None
        else None
    )
    assert tick is not None
    return {
        "token": token,
        "tradingsymbol": instrument.tradingsymbol,
        "exchange": instrument.exchange,
        "lot_size": instrument.lot_size,
        "ts": tick.get("ts"),
        "ltp": tick.get("ltp"),
        "levels": levels,
        **asdict(metrics),
        "impact": {
            "quantity": size,
            "buy": {k: v for k, v in asdict(impact_buy).items() if k not in ("side", "quantity")},
            "sell": {k: v for k, v in asdict(impact_sell).items() if k not in ("side", "quantity")},
            "average_pct": average,
        },
        "book": {"buy": buy[:levels], "sell": sell[:levels]},
    }
