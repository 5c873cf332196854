"""Demo data of the options app: analytics over the demo market's option history.

`seed_demo_analytics` is the demo step after `marketdata.demo.seed_demo_market` (tradeviz/demo.py's
DEMO_STEPS): the per-minute job computes live minutes from then on, and this fills the sessions
before, so the PCR, max pain, OI and straddle charts have history on first start. Idempotent: it
computes only when the window has no expiry metrics yet (`compute_option_analytics` recomputes on demand).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from options.models import ExpiryMetrics
from options.pricing import IST
from options.services.analytics import compute_range, option_underlyings

logger = logging.getLogger(__name__)

# marketdata.demo generates five sessions of option bars; a week of calendar days covers them.
DEMO_HISTORY_DAYS = 8


def seed_demo_analytics(*, days: int = DEMO_HISTORY_DAYS) -> None:
    now = timezone.now()
    today = now.astimezone(IST).date()
    underlyings = option_underlyings(as_of=today)
    if not underlyings:
        logger.info("demo analytics: no underlying with options; nothing to compute")
        return
    start = datetime.combine(today - timedelta(days=days), time.min, tzinfo=IST).astimezone(UTC)
    if ExpiryMetrics.objects.filter(underlying__in=underlyings, time__gte=start).exists():
        logger.info("demo analytics already present; not recomputing")
        return
    result = compute_range(start=start, end=now, underlyings=underlyings)
    logger.info(
        "demo analytics computed", extra={"minutes": result.minutes, "strike_rows": result.strike_rows}
    )
