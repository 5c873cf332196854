"""GET /api/v1/fo/option-chain: exact values, checked independently (vollib, put-call parity, max pain
and PCR recomputed from the OI columns the API returns), bad input, errors and auth.

Wednesday 25 November 2026 10:00 IST is a regular session (Tuesday 24th is Guru Nanak Jayanti); the chain expires Tuesday 1 December.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from typing import Any

import pytest
from vollib.black.greeks import analytical as vollib_greeks
from vollib.black.implied_volatility import implied_volatility as vollib_iv

from marketdata.last_prices import LAST_PRICE_HASH
from options.pricing import bs_greeks, time_to_expiry
from options.tests.factories import ChainFixture, ist, make_chain
from tradeviz.redis_client import get_redis

pytestmark = pytest.mark.django_db

URL = "/api/v1/fo/option-chain"
EXPIRY = date(2026, 12, 1)
MINUTE = ist(2026, 11, 25, 10, 0)
AT = MINUTE + timedelta(minutes=1)
PREVIOUS_CLOSE = ist(2026, 11, 23, 15, 29)
RATE = 0.065
FORWARD = 24_040.0
SPOT = 24_000.0
STRIKES = (23_800.0, 23_900.0, 24_000.0, 24_100.0, 24_200.0)
CE_OI = {23_800.0: 1_000, 23_900.0: 5_000, 24_000.0: 12_000, 24_100.0: 15_000, 24_200.0: 9_000}
PE_OI = {23_800.0: 14_000, 23_900.0: 11_000, 24_000.0: 10_000, 24_100.0: 3_000, 24_200.0: 1_000}
PREV_CE_OI = {k: v - 500 for k, v in CE_OI.items()}
PREV_PE_OI = {k: v - 200 for k, v in PE_OI.items()}


def smile(strike: float) -> float:
    m = math.log(strike / FORWARD)
    return 0.14 - 0.3 * m + 2.0 * m * m


def premium(strike: float, kind: str, forward: float = FORWARD, t: float | None = None) -> float:
    """Black-76 premium to the database's 4 decimals (no tick rounding: exact independent checks)."""
    from options.pricing import black76_price

    years = time_to_expiry(AT, EXPIRY) if t is None else t
    value = float(black76_price(forward, strike, years, smile(strike), RATE, 1 if kind == "CE" else -1))
    return round(value, 4)


@pytest.fixture(autouse=True)
def _rate(settings: Any) -> None:
    settings.FO_RISK_FREE_RATE = RATE
    settings.FO_DAY_COUNT_BASIS = 365


def seed_chain(chain: ChainFixture, *, futures: bool = True) -> None:
    """Yesterday's close (OI baseline), then two minutes today; the 10:00 bar is the latest."""
    chain.bar(chain.spot, MINUTE, SPOT)
    chain.bar(chain.spot, PREVIOUS_CLOSE, SPOT - 120)
    if futures and chain.futures is not None:
        chain.bar(chain.futures, MINUTE, FORWARD, oi=2_000_000, volume=1_000)
    for k in chain.strikes:
        for book, kind, oi, prev in (
            (chain.calls, "CE", CE_OI, PREV_CE_OI),
            (chain.puts, "PE", PE_OI, PREV_PE_OI),
        ):
            if k not in book:
                continue
            chain.bar(book[k], PREVIOUS_CLOSE, premium(k, kind) + 3, oi=prev[k], volume=999)
            chain.bar(book[k], MINUTE - timedelta(minutes=1), premium(k, kind) + 1, oi=oi[k] - 50, volume=40)
            chain.bar(book[k], MINUTE, premium(k, kind), oi=oi[k], volume=60)


def strict_json(response: Any) -> dict[str, Any]:
    """Parse rejecting NaN/Infinity, which are not JSON."""

    def reject(token: str) -> None:
        raise AssertionError(f"non-JSON number {token} in the response")

    return json.loads(response.content, parse_constant=reject)  # type: ignore[no-any-return]


def get_chain(client: Any, **params: Any) -> dict[str, Any]:
    response = client.get(URL, {"underlying": "TESTIDX", "expiry": EXPIRY.isoformat(), **params})
    assert response.status_code == 200, response.content
    return strict_json(response)


def row(body: dict[str, Any], strike: float) -> dict[str, Any]:
    return next(r for r in body["rows"] if r["strike"] == strike)


# --- exact values ---------------------------------------------------------------------------------


def test_chain_as_of_a_minute_close_has_exact_inputs_and_headline(auth_client: Any) -> None:
    chain = make_chain(strikes=STRIKES)
    seed_chain(chain)

    body = get_chain(auth_client, at=str(int(AT.timestamp())))

    t = time_to_expiry(AT, EXPIRY)
    assert body["as_of"] == AT.isoformat()
    assert body["minute"] == MINUTE.isoformat()
    assert body["live"] is False
    assert body["forward_source"] == "futures"
    assert body["forward"] == FORWARD
    assert body["futures_price"] == FORWARD
    assert body["spot"] == SPOT
    assert body["spot_prev_close"] == SPOT - 120
    assert body["rate"] == RATE
    assert body["day_count_basis"] == 365
    assert body["t_years"] == t
    assert body["lot_size"] == 75
    assert body["expiry_label"] == "monthly"  # a same-expiry futures contract exists
    assert body["atm_strike"] == 24_000.0  # nearest to the forward 24 040
    assert body["strikes_total"] == len(STRIKES)
    assert [r["strike"] for r in body["rows"]] == list(STRIKES)
    for k in STRIKES:
        ce, pe = row(body, k)["ce"], row(body, k)["pe"]
        assert ce["ltp"] == ce["price"] == premium(k, "CE")
        assert pe["ltp"] == pe["price"] == premium(k, "PE")
        assert ce["price_source"] == pe["price_source"] == "ltp"  # no quotes as of a past time
        assert ce["bid"] is None
        assert ce["ask"] is None
        assert (ce["oi"], pe["oi"]) == (CE_OI[k], PE_OI[k])
        assert (ce["oi_change"], pe["oi_change"]) == (500, 200)
        assert (ce["volume"], pe["volume"]) == (100, 100)  # today's two bars, not yesterday's 999
        assert ce["iv_reason"] is None
        assert pe["iv_reason"] is None


def test_iv_and_greeks_match_vollib_and_parity_holds_on_the_forward(auth_client: Any) -> None:
    chain = make_chain(strikes=STRIKES)
    seed_chain(chain)

    body = get_chain(auth_client, at=AT.isoformat())

    t, forward = body["t_years"], body["forward"]
    discount = math.exp(-RATE * t)
    for r in body["rows"]:
        k = r["strike"]
        for side, flag in (("ce", "c"), ("pe", "p")):
            cell = r[side]
            reference_iv = vollib_iv(cell["price"], forward, k, RATE, t, flag)
            assert cell["iv"] == pytest.approx(reference_iv, rel=1e-6)
            assert cell["iv"] == pytest.approx(smile(k), abs=2e-4)  # the smile the prices came from
            iv = cell["iv"]
            # vollib's delta/gamma are w.r.t. F with the discount factor; theta per calendar day;
            # vega per 1 % — the units of DOMAIN.md.
            assert cell["delta"] == pytest.approx(
                vollib_greeks.delta(flag, forward, k, t, RATE, iv), rel=1e-6
            )
            assert cell["gamma"] == pytest.approx(
                vollib_greeks.gamma(flag, forward, k, t, RATE, iv), rel=1e-6
            )
            assert cell["theta"] == pytest.approx(
                vollib_greeks.theta(flag, forward, k, t, RATE, iv), rel=1e-6
            )
            assert cell["vega"] == pytest.approx(vollib_greeks.vega(flag, forward, k, t, RATE, iv), rel=1e-6)
        # Put-call parity on the forward: C - P = e^{-rT}(F - K), to the 4 decimals prices are stored in.
        assert r["ce"]["price"] - r["pe"]["price"] == pytest.approx(discount * (forward - k), abs=1e-4)


def test_pcr_max_pain_support_resistance_recomputed_from_the_oi_columns(auth_client: Any) -> None:
    chain = make_chain(strikes=STRIKES)
    seed_chain(chain)

    body = get_chain(auth_client, at=AT.isoformat(), strikes=0)

    rows = body["rows"]
    ce_oi = {r["strike"]: r["ce"]["oi"] for r in rows}
    pe_oi = {r["strike"]: r["pe"]["oi"] for r in rows}
    assert body["total_ce_oi"] == sum(ce_oi.values()) == 42_000
    assert body["total_pe_oi"] == sum(pe_oi.values()) == 39_000
    assert body["pcr_oi"] == 39_000 / 42_000
    assert body["pcr_volume"] == 1.0
    assert body["pcr_oi_change"] == (200 * 5) / (500 * 5)

    def pain(x: float) -> float:
        return sum(ce_oi[k] * max(0.0, x - k) + pe_oi[k] * max(0.0, k - x) for k in ce_oi)

    pains = {x: pain(x) for x in ce_oi}
    expected = min(pains, key=lambda x: (pains[x], x))
    assert body["max_pain"] == expected == 24_000.0
    assert body["support"] == 23_800.0  # largest put OI
    assert body["resistance"] == 24_100.0  # largest call OI
    atm = row(body, 24_000.0)
    assert body["straddle"] == atm["ce"]["price"] + atm["pe"]["price"]
    assert body["atm_iv"] == (atm["ce"]["iv"] + atm["pe"]["iv"]) / 2


def test_strikes_window_is_centred_on_the_atm_strike(auth_client: Any) -> None:
    chain = make_chain(strikes=STRIKES)
    seed_chain(chain)

    body = get_chain(auth_client, at=AT.isoformat(), strikes=1)

    assert [r["strike"] for r in body["rows"]] == [23_900.0, 24_000.0, 24_100.0]
    assert body["pcr_oi"] == 39_000 / 42_000  # still the whole expiry
    assert body["strikes_total"] == 5


def test_synthetic_forward_from_the_atm_pair_without_futures(auth_client: Any) -> None:
    chain = make_chain(strikes=STRIKES, with_futures=False)
    seed_chain(chain, futures=False)

    body = get_chain(auth_client, at=AT.isoformat())

    assert body["forward_source"] == "synthetic"
    assert body["futures_price"] is None
    t = body["t_years"]
    diffs = {r["strike"]: r["ce"]["price"] - r["pe"]["price"] for r in body["rows"]}
    pair = min(diffs, key=lambda k: (abs(diffs[k]), k))
    assert pair == 24_000.0
    assert body["forward"] == pytest.approx(pair + math.exp(RATE * t) * diffs[pair], rel=1e-12)
    assert body["synthetic_forward"] == body["forward"]
    assert body["forward"] == pytest.approx(FORWARD, abs=1e-3)
    assert body["expiry_label"] == "weekly"
    assert row(body, 24_100.0)["ce"]["iv"] == pytest.approx(smile(24_100.0), abs=2e-4)


def test_black_scholes_on_spot_when_neither_futures_nor_a_pair_exist(auth_client: Any) -> None:
    chain = make_chain(strikes=STRIKES, with_futures=False)
    chain.bar(chain.spot, MINUTE, SPOT)
    t = time_to_expiry(AT, EXPIRY)
    spot_forward = SPOT * math.exp(RATE * t)
    for k in STRIKES:  # calls only: no strike has both prices, so no synthetic forward
        chain.bar(chain.calls[k], MINUTE, premium(k, "CE", forward=spot_forward), oi=100, volume=1)

    body = get_chain(auth_client, at=AT.isoformat())

    assert body["forward_source"] == "spot"
    assert body["greeks_basis"] == "spot"
    assert body["forward"] == pytest.approx(spot_forward, rel=1e-15)
    cell = row(body, 24_000.0)["ce"]
    assert cell["iv"] == pytest.approx(smile(24_000.0), abs=2e-4)
    expected = bs_greeks(SPOT, 24_000.0, t, cell["iv"], RATE, "CE")
    assert cell["delta"] == pytest.approx(float(expected.delta), rel=1e-12)  # spot delta, N(d1)
    assert row(body, 24_000.0)["pe"]["iv_reason"] == "no_price"


def test_nothing_to_price_from_gives_nulls_with_reasons(auth_client: Any) -> None:
    chain = make_chain(strikes=STRIKES, with_futures=False)
    for k in STRIKES:
        chain.bar(chain.calls[k], MINUTE, 10.0, oi=100, volume=1)

    body = get_chain(auth_client, at=AT.isoformat())

    assert body["forward_source"] == "none"
    assert body["forward"] is None
    assert body["atm_strike"] is None
    assert body["atm_iv"] is None
    assert body["straddle"] is None
    assert {r["ce"]["iv_reason"] for r in body["rows"]} == {"no_forward"}
    assert all(r["ce"]["iv"] is None and r["ce"]["delta"] is None for r in body["rows"])
    assert body["pcr_oi"] == 0.0  # no put OI reported: 0 / 500
    assert body["total_ce_oi"] == 500
    assert body["total_pe_oi"] is None


# --- bad input ------------------------------------------------------------------------------------


def test_untraded_strikes_sub_intrinsic_prices_and_unlisted_sides(auth_client: Any) -> None:
    chain = make_chain(strikes=STRIKES, skip=[(24_200.0, "PE")])
    chain.bar(chain.spot, MINUTE, SPOT)
    chain.bar(chain.futures, MINUTE, FORWARD, oi=1, volume=1)  # type: ignore[arg-type]
    chain.bar(chain.calls[24_000.0], MINUTE, premium(24_000.0, "CE"), oi=10, volume=1)
    chain.bar(chain.puts[24_000.0], MINUTE, premium(24_000.0, "PE"), oi=10, volume=1)
    chain.bar(chain.calls[23_800.0], MINUTE, 100.0, oi=10, volume=1)  # intrinsic is e^{-rT}·240
    chain.bar(chain.puts[24_100.0], MINUTE, 0.05, oi=10, volume=1)  # below intrinsic 60 as well

    body = get_chain(auth_client, at=AT.isoformat())

    assert row(body, 23_800.0)["ce"]["iv"] is None
    assert row(body, 23_800.0)["ce"]["iv_reason"] == "below_intrinsic"
    assert row(body, 24_100.0)["pe"]["iv_reason"] == "below_intrinsic"
    untraded = row(body, 23_900.0)["ce"]
    assert untraded["ltp"] is None
    assert untraded["price"] is None
    assert untraded["iv"] is None
    assert untraded["iv_reason"] == "no_price"
    assert untraded["price_source"] == "none"
    assert untraded["oi"] is None
    assert untraded["volume"] == 0
    assert row(body, 24_200.0)["pe"] is None  # not listed
    assert row(body, 24_200.0)["ce"]["tradingsymbol"].endswith("24200CE")


def test_expired_contracts_have_zero_time_and_no_iv(auth_client: Any) -> None:
    expired = date(2026, 11, 25)
    chain = make_chain(strikes=STRIKES, expiry=expired)
    after_close = ist(2026, 11, 25, 15, 31)
    last = ist(2026, 11, 25, 15, 29)
    chain.bar(chain.spot, last, SPOT)
    chain.bar(chain.futures, last, SPOT, oi=1, volume=1)  # type: ignore[arg-type]
    for k in STRIKES:
        chain.bar(chain.calls[k], last, max(SPOT - k, 0) + 0.05, oi=10, volume=1)
        chain.bar(chain.puts[k], last, max(k - SPOT, 0) + 0.05, oi=10, volume=1)

    response = auth_client.get(
        URL, {"underlying": "TESTIDX", "expiry": expired.isoformat(), "at": after_close.isoformat()}
    )
    body = strict_json(response)

    assert response.status_code == 200
    assert body["t_years"] == 0.0
    assert {r[s]["iv_reason"] for r in body["rows"] for s in ("ce", "pe")} == {"expired"}
    assert all(r["ce"]["delta"] is None for r in body["rows"])


def test_live_chain_uses_sane_quotes_and_falls_back_to_ltp_on_crossed_or_zero_books(
    auth_client: Any, settings: Any
) -> None:
    chain = make_chain(strikes=STRIKES, token_base=5_100_000)
    seed_chain(chain)
    ts_ms = int((MINUTE + timedelta(seconds=30)).timestamp() * 1000)
    k = 24_000.0
    ce, pe, fut = chain.calls[k], chain.puts[k], chain.futures
    assert fut is not None
    quotes = {
        ce.instrument_token: {
            "ltp": 201.0,
            "ts": ts_ms,
            "bid": 200.0,
            "ask": 201.0,
            "volume": 777,
            "oi": 12_345,
        },
        pe.instrument_token: {"ltp": 150.0, "ts": ts_ms, "bid": 151.0, "ask": 149.0},  # crossed
        chain.calls[24_100.0].instrument_token: {
            "ltp": 160.0,
            "ts": ts_ms,
            "bid": 0,
            "ask": 161.0,
        },  # zero bid
        fut.instrument_token: {"ltp": 24_050.0, "ts": ts_ms},
    }
    redis = get_redis()
    redis.hset(LAST_PRICE_HASH, mapping={str(t): json.dumps(q) for t, q in quotes.items()})
    try:
        from django.utils import timezone

        now = MINUTE + timedelta(seconds=40)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(timezone, "now", lambda: now)
            body = get_chain(auth_client)
    finally:
        redis.hdel(LAST_PRICE_HASH, *[str(t) for t in quotes])

    assert body["live"] is True
    assert body["as_of"] == now.isoformat()
    assert body["forward"] == 24_050.0  # the futures tick is newer than its bar
    atm = row(body, k)
    assert (atm["ce"]["bid"], atm["ce"]["ask"]) == (200.0, 201.0)
    assert atm["ce"]["price"] == 200.5
    assert atm["ce"]["price_source"] == "mid"
    assert atm["ce"]["ltp"] == 201.0
    assert atm["ce"]["volume"] == 777
    assert atm["ce"]["oi"] == 12_345
    assert atm["pe"]["price"] == 150.0
    assert atm["pe"]["price_source"] == "ltp"
    zero_bid = row(body, 24_100.0)["ce"]
    assert zero_bid["price"] == 160.0
    assert zero_bid["price_source"] == "ltp"
    assert body["t_years"] == time_to_expiry(now, EXPIRY)


def test_a_contract_expiring_on_a_holiday_expires_the_trading_day_before(auth_client: Any) -> None:
    on_holiday = date(2026, 11, 24)  # Guru Nanak Jayanti: the contract's last day is Monday the 23rd
    chain = make_chain(strikes=STRIKES, expiry=on_holiday)
    moment = ist(2026, 11, 23, 15, 0)
    chain.bar(chain.futures, moment - timedelta(minutes=1), SPOT, oi=1, volume=1)  # type: ignore[arg-type]

    response = auth_client.get(
        URL, {"underlying": "TESTIDX", "expiry": "2026-11-24", "at": moment.isoformat()}
    )
    body = strict_json(response)

    assert body["expiry"] == "2026-11-24"
    assert body["effective_expiry"] == "2026-11-23"
    assert body["t_years"] == 30 * 60 / (365 * 86_400)


def test_on_a_weekend_the_live_chain_shows_the_last_session(auth_client: Any, monkeypatch: Any) -> None:
    chain = make_chain(strikes=STRIKES, token_base=5_150_000)
    thursday, friday = ist(2026, 11, 26, 15, 29), ist(2026, 11, 27, 11, 0)
    chain.bar(chain.spot, thursday, 23_900.0)
    chain.bar(chain.spot, friday, SPOT)
    k = 24_000.0
    chain.bar(chain.calls[k], thursday, 150.0, oi=10_000, volume=5_000)
    chain.bar(chain.calls[k], friday - timedelta(minutes=1), 160.0, oi=10_500, volume=300)
    chain.bar(chain.calls[k], friday, 170.0, oi=11_000, volume=200)
    from django.utils import timezone

    sunday = ist(2026, 11, 29, 10, 0)
    monkeypatch.setattr(timezone, "now", lambda: sunday)

    body = get_chain(auth_client)

    atm = row(body, k)["ce"]
    assert atm["ltp"] == 170.0
    assert atm["volume"] == 500  # Friday's volume, not Sunday's nothing
    assert atm["oi_change"] == 1_000  # against Thursday's close
    assert body["spot_prev_close"] == 23_900.0
    assert body["t_years"] == time_to_expiry(sunday, EXPIRY)


# --- errors and auth ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"underlying": "NOSUCH", "expiry": "2026-12-01"}, 404, "not_found"),
        ({"underlying": "TESTIDX", "expiry": "2026-12-02"}, 404, "not_found"),
        ({"underlying": "TESTIDX", "expiry": "tomorrow"}, 400, "invalid"),
        ({"underlying": "TESTIDX"}, 400, "invalid"),
        ({"expiry": "2026-12-01"}, 400, "invalid"),
        ({"underlying": "TESTIDX", "expiry": "2026-12-01", "strikes": "-1"}, 400, "invalid"),
        ({"underlying": "TESTIDX", "expiry": "2026-12-01", "strikes": "ten"}, 400, "invalid"),
        ({"underlying": "TESTIDX", "expiry": "2026-12-01", "at": "2999-01-01T00:00:00Z"}, 400, "invalid"),
        ({"underlying": "TESTIDX", "expiry": "2026-12-01", "at": "yesterday"}, 400, "invalid"),
    ],
)
def test_bad_requests_answer_in_the_error_shape(
    auth_client: Any, params: dict[str, str], status: int, code: str
) -> None:
    make_chain(strikes=STRIKES)

    response = auth_client.get(URL, params)

    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_unknown_expiry_lists_the_known_ones(auth_client: Any) -> None:
    make_chain(strikes=STRIKES)

    body = auth_client.get(URL, {"underlying": "TESTIDX", "expiry": "2026-12-08"}).json()

    assert body["error"]["details"] == {"expiries": ["2026-12-01"]}


def test_requires_authentication(api_client: Any) -> None:
    make_chain(strikes=STRIKES)

    response = api_client.get(URL, {"underlying": "TESTIDX", "expiry": EXPIRY.isoformat()})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_empty_chain_without_any_data_is_all_nulls_not_an_error(auth_client: Any) -> None:
    make_chain(strikes=STRIKES)

    body = get_chain(auth_client, at=AT.isoformat())

    assert body["forward_source"] == "none"
    assert body["max_pain"] is None
    assert body["pcr_oi"] is None
    assert body["total_ce_oi"] is None
    assert all(r["ce"]["ltp"] is None for r in body["rows"])
