"""The per-minute job: what it stores, that it agrees with the chain API, that day volume and OI change
carry from minute to minute, the hook registration, history recomputation, rollups and the command."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from marketdata.hooks import MinuteClosed, registered_minute_close_hooks, run_minute_close_hooks
from options.models import ExpiryMetrics, OptionStrikeBar
from options.pricing import time_to_expiry
from options.services.analytics import HOOK_NAME, compute_minute, compute_range
from options.tests.factories import ChainFixture, ist, make_chain, model_premium

pytestmark = pytest.mark.django_db

EXPIRY = date(2026, 12, 1)
DAY = (2026, 11, 25)
OPEN = ist(*DAY, 9, 15)
PREVIOUS_CLOSE = ist(2026, 11, 23, 15, 29)
STRIKES = (23_900.0, 24_000.0, 24_100.0)
FORWARD = 24_030.0
RATE = 0.065


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.FO_RISK_FREE_RATE = RATE
    settings.FO_DAY_COUNT_BASIS = 365
    settings.FO_ANALYTICS_UNDERLYINGS = []
    settings.FO_ANALYTICS_EXPIRIES = 4


def seed_minutes(chain: ChainFixture, count: int, *, start: int = 0) -> None:
    """`count` minutes from 09:15 + start; each option trades 10·(minute+1) CE and 20·(minute+1) PE."""
    for m in range(start, start + count):
        minute = OPEN + timedelta(minutes=m)
        t = time_to_expiry(minute + timedelta(minutes=1), EXPIRY)
        forward = FORWARD + m
        chain.bar(chain.spot, minute, forward - 30)
        assert chain.futures is not None
        chain.bar(chain.futures, minute, forward, oi=1_000_000, volume=100)
        for k in STRIKES:
            chain.bar(
                chain.calls[k],
                minute,
                model_premium(forward, k, t, 0.13, RATE, "CE"),
                oi=1_000 + m,
                volume=10 * (m + 1),
            )
            chain.bar(
                chain.puts[k],
                minute,
                model_premium(forward, k, t, 0.13, RATE, "PE"),
                oi=2_000 + 2 * m,
                volume=20 * (m + 1),
            )


def seed_previous_close(chain: ChainFixture) -> None:
    for k in STRIKES:
        chain.bar(chain.calls[k], PREVIOUS_CLOSE, 50.0, oi=900, volume=5_000)
        chain.bar(chain.puts[k], PREVIOUS_CLOSE, 50.0, oi=1_500, volume=5_000)


def strike_row(minute: Any, strike: float) -> OptionStrikeBar:
    return OptionStrikeBar.objects.get(
        underlying="TESTIDX", expiry=EXPIRY, time=minute, strike=Decimal(str(strike))
    )


def test_compute_minute_stores_strike_bars_and_metrics_equal_to_the_chain_api(auth_client: Any) -> None:
    chain = make_chain(strikes=STRIKES)
    seed_previous_close(chain)
    seed_minutes(chain, 1)

    result = compute_minute(minute=OPEN, underlyings=["TESTIDX"])

    assert (result.chains, result.strike_rows) == (1, 3)
    api = auth_client.get(
        "/api/v1/fo/option-chain",
        {
            "underlying": "TESTIDX",
            "expiry": EXPIRY.isoformat(),
            "at": (OPEN + timedelta(minutes=1)).isoformat(),
        },
    ).json()
    metrics = ExpiryMetrics.objects.get(underlying="TESTIDX", expiry=EXPIRY, time=OPEN)
    assert metrics.forward == api["forward"] == FORWARD
    assert metrics.forward_source == api["forward_source"] == "futures"
    assert metrics.t_years == api["t_years"]
    assert metrics.pcr_oi == api["pcr_oi"] == 6_000 / 3_000
    assert metrics.pcr_volume == api["pcr_volume"] == 2.0
    assert metrics.pcr_oi_change == api["pcr_oi_change"] == (3 * 500) / (3 * 100)
    assert float(metrics.max_pain) == api["max_pain"]  # type: ignore[arg-type]
    assert float(metrics.atm_strike) == api["atm_strike"] == 24_000.0  # type: ignore[arg-type]
    assert metrics.atm_iv == api["atm_iv"]
    assert metrics.straddle == api["straddle"]
    assert (metrics.total_ce_oi, metrics.total_pe_oi) == (3_000, 6_000)
    assert (metrics.total_ce_volume, metrics.total_pe_volume) == (30, 60)
    assert (metrics.ce_volume_minute, metrics.pe_volume_minute) == (30, 60)
    assert metrics.futures_price == Decimal(str(FORWARD))
    for r in api["rows"]:
        stored = strike_row(OPEN, r["strike"])
        assert float(stored.ce_ltp) == r["ce"]["ltp"]  # type: ignore[arg-type]
        assert stored.ce_price == r["ce"]["price"]
        assert stored.ce_iv == r["ce"]["iv"]
        assert stored.pe_delta == r["pe"]["delta"]
        assert stored.ce_gamma == r["ce"]["gamma"]
        assert stored.pe_theta == r["pe"]["theta"]
        assert stored.ce_vega == r["ce"]["vega"]
        assert (stored.ce_oi, stored.ce_oi_change, stored.ce_volume) == (r["ce"]["oi"], 100, 10)
        assert (stored.pe_oi, stored.pe_oi_change, stored.pe_volume) == (r["pe"]["oi"], 500, 20)
        assert stored.ce_iv_reason == ""
        assert stored.forward == FORWARD
        assert stored.forward_source == "futures"
        assert stored.spot == Decimal(str(FORWARD - 30))


def test_day_volume_and_oi_change_carry_from_minute_to_minute() -> None:
    chain = make_chain(strikes=STRIKES)
    seed_previous_close(chain)
    seed_minutes(chain, 3)

    for m in range(3):
        compute_minute(minute=OPEN + timedelta(minutes=m), underlyings=["TESTIDX"])

    third = strike_row(OPEN + timedelta(minutes=2), 24_000.0)
    assert third.ce_volume == 10 + 20 + 30  # the day so far, not yesterday's 5 000
    assert third.pe_volume == 20 + 40 + 60
    assert (third.ce_oi, third.ce_oi_change) == (1_002, 102)
    assert (third.pe_oi, third.pe_oi_change) == (2_004, 504)
    metrics = ExpiryMetrics.objects.get(underlying="TESTIDX", expiry=EXPIRY, time=OPEN + timedelta(minutes=2))
    assert (metrics.ce_volume_minute, metrics.pe_volume_minute) == (3 * 30, 3 * 60)
    assert (metrics.total_ce_volume, metrics.total_pe_volume) == (3 * 60, 3 * 120)


def test_a_minute_without_trades_carries_prices_and_a_skipped_minute_is_caught_up() -> None:
    chain = make_chain(strikes=STRIKES)
    seed_minutes(chain, 1)
    compute_minute(minute=OPEN, underlyings=["TESTIDX"])
    seed_minutes(chain, 2, start=2)  # minutes 2 and 3; minute 1 had no bars at all

    compute_minute(minute=OPEN + timedelta(minutes=1), underlyings=["TESTIDX"])
    quiet = strike_row(OPEN + timedelta(minutes=1), 24_000.0)
    first = strike_row(OPEN, 24_000.0)
    assert (quiet.ce_ltp, quiet.ce_oi, quiet.ce_volume) == (first.ce_ltp, first.ce_oi, 10)
    assert quiet.ce_oi_change is None  # no OI before the day is known

    compute_minute(minute=OPEN + timedelta(minutes=3), underlyings=["TESTIDX"])  # minute 2 never computed
    caught_up = strike_row(OPEN + timedelta(minutes=3), 24_000.0)
    assert caught_up.ce_volume == 10 + 30 + 40
    assert caught_up.ce_oi == 1_003


def test_the_minute_close_hook_is_registered_and_computes_the_touched_underlyings() -> None:
    chain = make_chain(strikes=STRIKES)
    other = make_chain(underlying="OTHERIDX", strikes=STRIKES, token_base=6_000_000)
    seed_minutes(chain, 1)

    assert HOOK_NAME in registered_minute_close_hooks()
    outcome = run_minute_close_hooks(MinuteClosed(minute=OPEN, instrument_ids=[chain.calls[24_000.0].pk]))

    assert outcome[HOOK_NAME] is True
    assert ExpiryMetrics.objects.filter(underlying="TESTIDX", time=OPEN).count() == 1
    assert not ExpiryMetrics.objects.filter(underlying=other.underlying).exists()


def test_recomputing_a_minute_rewrites_it() -> None:
    chain = make_chain(strikes=STRIKES)
    seed_minutes(chain, 1)
    compute_minute(minute=OPEN, underlyings=["TESTIDX"])
    before = strike_row(OPEN, 24_000.0).ce_iv
    chain.bar(chain.calls[24_000.0], OPEN, 999.0, oi=1_000, volume=10)  # a correction of that bar

    compute_minute(minute=OPEN, underlyings=["TESTIDX"])

    assert OptionStrikeBar.objects.filter(time=OPEN).count() == 3
    after = strike_row(OPEN, 24_000.0)
    assert after.ce_ltp == Decimal("999")
    assert after.ce_iv != before


def test_compute_range_equals_minute_by_minute_and_fills_the_rollups() -> None:
    chain = make_chain(strikes=STRIKES)
    seed_previous_close(chain)
    seed_minutes(chain, 7)

    result = compute_range(start=OPEN, end=OPEN + timedelta(minutes=10), underlyings=["TESTIDX"])

    assert (result.minutes, result.strike_rows) == (7, 21)
    rows = list(ExpiryMetrics.objects.filter(underlying="TESTIDX").order_by("time"))
    assert [r.time for r in rows] == [OPEN + timedelta(minutes=m) for m in range(7)]
    assert rows[-1].total_ce_volume == 3 * sum(10 * (m + 1) for m in range(7))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bucket, straddle, straddle_high, straddle_low, straddle_open, ce_volume_minute, pcr_oi "
            "FROM options_expirymetrics_5m WHERE underlying = 'TESTIDX' ORDER BY bucket"
        )
        buckets = cursor.fetchall()
    assert [b[0] for b in buckets] == [OPEN, OPEN + timedelta(minutes=5)]
    first = rows[:5]
    assert buckets[0][1] == first[-1].straddle
    assert buckets[0][2] == max(r.straddle for r in first)  # type: ignore[type-var]
    assert buckets[0][3] == min(r.straddle for r in first)  # type: ignore[type-var]
    assert buckets[0][4] == first[0].straddle
    assert buckets[0][5] == sum(r.ce_volume_minute for r in first)  # type: ignore[misc]
    assert buckets[0][6] == first[-1].pcr_oi


def test_expired_chains_are_left_out_of_the_per_minute_job() -> None:
    make_chain(strikes=STRIKES, expiry=date(2026, 11, 17))

    result = compute_minute(minute=OPEN, underlyings=["TESTIDX"])

    assert result.chains == 0
    assert not ExpiryMetrics.objects.exists()


def test_management_command_computes_history(capsys: Any) -> None:
    chain = make_chain(strikes=STRIKES)
    seed_minutes(chain, 2)

    call_command(
        "compute_option_analytics",
        "--from",
        OPEN.isoformat(),
        "--to",
        (OPEN + timedelta(hours=1)).isoformat(),
        "--underlying",
        "TESTIDX",
    )

    assert "2 minutes, 6 strike rows" in capsys.readouterr().out
    assert ExpiryMetrics.objects.filter(underlying="TESTIDX").count() == 2
