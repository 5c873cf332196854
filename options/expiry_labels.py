"""Weekly or monthly, for a chain (the rule of DOMAIN.md, as `marketdata.expiries` applies it)."""

from __future__ import annotations

from marketdata.expiries import LABEL_MONTHLY, LABEL_WEEKLY, monthly_expiry
from options.chains import Chain, option_expiries
from tradeviz.errors import DomainError


def expiry_label(chain: Chain) -> str:
    """Monthly when a same-expiry futures contract exists, else when the date is the month's
    (holiday-adjusted) last expiry weekday; without holiday data, when it is the last listed
    expiry of its month."""
    if chain.futures is not None:
        return LABEL_MONTHLY
    day = chain.effective_expiry
    try:
        rule = monthly_expiry(day.year, day.month, chain.exchange)
    except DomainError:
        same_month = [
            e for e in option_expiries(chain.underlying) if (e.year, e.month) == (day.year, day.month)
        ]
        return LABEL_MONTHLY if same_month and max(same_month) == chain.expiry else LABEL_WEEKLY
    return LABEL_MONTHLY if day == rule else LABEL_WEEKLY
