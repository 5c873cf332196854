"""The market simulator: stands in for the external ticker service (`manage.py simulate_market`).

Importing this package is cheap (a view may call `default_chart_symbol` per request); the engine,
the HTTP server and the I/O loop live in submodules and are imported where they are used.
See docs/simulator.md.
"""

from __future__ import annotations

from datetime import datetime

NSE_CHART_SYMBOL = "NSE:NIFTY 50"
SIM_CHART_SYMBOL = "SIM:SIMNIFTY"


def default_chart_symbol(now: datetime) -> str:
    """The symbol a chart should open on at `now` (aware): the NIFTY 50 index while NSE is in
    session, else the 24x7 demo index, which is always live."""
    from marketdata.calendar import is_market_open
    from tradeviz.errors import DataUnavailable

    try:
        nse_open = is_market_open(now, "NSE")
    except DataUnavailable:
        nse_open = False  # a year without holiday data is never assumed open
    return NSE_CHART_SYMBOL if nse_open else SIM_CHART_SYMBOL
