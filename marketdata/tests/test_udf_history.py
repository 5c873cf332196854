"""UDF history against an independent Python aggregation of the same minute bars."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marketdata.history_cache import clear_local
from marketdata.models import Instrument
from marketdata.tests.factories import (
    IST_OFFSET,
    bars_from_closes,
    ist,
    make_instrument,
    session_minutes,
    write_bars,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/udf/history"
Row = tuple[datetime, float, float, float, float, int]

# Monday 23 and Tuesday 24 November 2026: two full NSE sessions.
DAY1 = ist(2026, 11, 23, 9, 15)
DAY2 = ist(2026, 11, 24, 9, 15)


def reference(rows: list[Row], key: Callable[[datetime], datetime]) -> list[tuple[int, float, float, float, float, int]]:
    """Bars aggregated in Python: first open, max high, min low, last close, summed volume."""
    groups: OrderedDict[datetime, list[Row]] = OrderedDict()
    for row in sorted(rows):
        groups.setdefault(key(row[0]), []).append(row)
    # Prices are stored as numeric(18, 4): the reference rounds the same way, then compares exactly.
    return [
        (int(stamp.timestamp()), round(g[0][1], 4), round(max(r[2] for r in g), 4), round(min(r[3] for r in g), 4),
         round(g[-1][4], 4), sum(r[5] for r in g))
        for stamp, g in groups.items()
    ]


def intraday_key(minutes: int) -> Callable[[datetime], datetime]:
    def key(moment: datetime) -> datetime:
        local = moment + IST_OFFSET
        session_open = local.replace(hour=9, minute=15)
        index = int((local - session_open).total_seconds() // 60) // minutes
        return session_open + timedelta(minutes=index * minutes) - IST_OFFSET

    return key


def daily_key(moment: datetime) -> datetime:
    local = moment + IST_OFFSET
    return datetime(local.year, local.month, local.day, tzinfo=UTC)


def as_bars(body: dict[str, Any]) -> list[tuple[int, float, float, float, float, int]]:
    assert body["s"] == "ok", body
    return list(zip(body["t"], body["o"], body["h"], body["l"], body["c"], body["v"], strict=True))


@pytest.fixture
def instrument() -> Instrument:
    clear_local()
    return make_instrument()


@pytest.fixture
def two_days(instrument: Instrument) -> list[Row]:
    times = session_minutes(DAY1) + session_minutes(DAY2)
    closes = [1000.0 + (i % 97) * 0.5 + i * 0.05 for i in range(len(times))]
    return bars_from_closes(instrument, times, closes)


def get(client: Any, **params: Any) -> dict[str, Any]:
    response = client.get(URL, {"symbol": "NSE:TESTCO", **params})
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("resolution", [1, 3, 5, 10, 15, 30, 45, 60, 120, 240, 375])
def test_intraday_resolutions_match_reference(auth_client: Any, two_days: list[Row], resolution: int) -> None:
    start, end = int(DAY1.timestamp()), int((DAY2 + timedelta(days=1)).timestamp())
    body = get(auth_client, resolution=str(resolution), **{"from": start, "to": end})
    assert as_bars(body) == (reference(two_days, intraday_key(resolution)))


def test_sixty_minute_bars_open_at_nse_hours(auth_client: Any, two_days: list[Row]) -> None:
    body = get(auth_client, resolution="60", **{"from": int(DAY1.timestamp()), "to": int(DAY2.timestamp())})
    opens_ist = [(datetime.fromtimestamp(t, tz=UTC) + IST_OFFSET).strftime("%H:%M") for t in body["t"]]
    assert opens_ist == ["09:15", "10:15", "11:15", "12:15", "13:15", "14:15", "15:15"]
    body = get(auth_client, resolution="240", **{"from": int(DAY1.timestamp()), "to": int(DAY2.timestamp())})
    assert [(datetime.fromtimestamp(t, tz=UTC) + IST_OFFSET).strftime("%H:%M") for t in body["t"]] == [
        "09:15", "13:15"]


@pytest.mark.parametrize("resolution", ["D", "1D"])
def test_daily_bars_are_stamped_midnight_utc_of_the_trading_date(
    auth_client: Any, two_days: list[Row], resolution: str
) -> None:
    body = get(auth_client, resolution=resolution, **{"from": int(DAY1.timestamp()) - 86400, "to": int(DAY2.timestamp()) + 86400})
    assert body["t"] == [int(datetime(2026, 11, 23, tzinfo=UTC).timestamp()), int(datetime(2026, 11, 24, tzinfo=UTC).timestamp())]
    assert as_bars(body) == (reference(two_days, daily_key))


def test_from_is_inclusive_and_to_exclusive(auth_client: Any, two_days: list[Row]) -> None:
    start = DAY1 + timedelta(minutes=10)
    body = get(auth_client, resolution="1", **{"from": int(start.timestamp()), "to": int((start + timedelta(minutes=5)).timestamp())})
    assert body["t"] == [int((start + timedelta(minutes=k)).timestamp()) for k in range(5)]


def test_countback_returns_exactly_n_bars_before_to(auth_client: Any, two_days: list[Row]) -> None:
    to = DAY2 + timedelta(minutes=30)
    body = get(auth_client, resolution="5", countback=4, **{"from": int(to.timestamp()) - 60, "to": int(to.timestamp())})
    assert body["t"] == [int((DAY2 + timedelta(minutes=m)).timestamp()) for m in (10, 15, 20, 25)]


def test_countback_reaches_back_before_from_into_the_previous_session(auth_client: Any, two_days: list[Row]) -> None:
    to = DAY2 + timedelta(minutes=2)
    body = get(auth_client, resolution="1", countback=5, **{"from": int(DAY2.timestamp()), "to": int(to.timestamp())})
    expected = [DAY1 + timedelta(minutes=372 + k) for k in range(3)] + [DAY2, DAY2 + timedelta(minutes=1)]
    assert body["t"] == [int(t.timestamp()) for t in expected]
    assert as_bars(body) == ([b for b in reference(two_days, intraday_key(1)) if b[0] in body["t"]])


def test_countback_bars_are_complete_buckets(auth_client: Any, two_days: list[Row]) -> None:
    body = get(auth_client, resolution="60", countback=3, **{"from": 0, "to": int((DAY2 + timedelta(days=1)).timestamp())})
    assert as_bars(body) == (reference(two_days, intraday_key(60))[-3:])


def test_countback_larger_than_history_returns_everything(auth_client: Any, two_days: list[Row]) -> None:
    body = get(auth_client, resolution="D", countback=500, **{"from": 0, "to": int((DAY2 + timedelta(days=1)).timestamp())})
    assert len(body["t"]) == 2


def test_forming_bar_is_included_with_what_is_known(auth_client: Any, instrument: Instrument) -> None:
    day3 = ist(2026, 11, 25, 9, 15)
    rows = bars_from_closes(instrument, session_minutes(day3, count=10), [500.0 + k for k in range(10)])
    body = get(auth_client, resolution="60", countback=2, **{"from": 0, "to": int((day3 + timedelta(minutes=10)).timestamp())})
    assert as_bars(body) == ([(int(day3.timestamp()), rows[0][1], rows[-1][2], rows[0][3], 509.0, 1000)])


def test_bars_written_after_the_rollup_watermark_are_served_live(auth_client: Any, instrument: Instrument) -> None:
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    recent = [now - timedelta(minutes=2), now - timedelta(minutes=1)]
    rows: list[Row] = [(t, 10.0, 12.0, 9.0, 11.0, 7) for t in recent]
    write_bars(instrument, rows)
    body = get(auth_client, resolution="5", countback=2, **{"from": 0, "to": int(now.timestamp()) + 60})
    assert sum(body["v"]) == 14
    assert body["c"][-1] == 11.0


def test_weekly_bar_is_stamped_with_the_first_trading_day_present(auth_client: Any, instrument: Instrument) -> None:
    # Monday 26 January 2026 is Republic Day: the week trades Tuesday to Friday.
    days = [ist(2026, 1, d, 9, 15) for d in (27, 28, 29, 30)] + [ist(2026, 2, 2, 9, 15)]
    times = [t for day in days for t in session_minutes(day, count=3)]
    rows = bars_from_closes(instrument, times, [100.0 + k for k in range(len(times))])
    body = get(auth_client, resolution="W", **{"from": int(datetime(2026, 1, 20, tzinfo=UTC).timestamp()),
                                                "to": int(datetime(2026, 2, 7, tzinfo=UTC).timestamp())})
    assert body["t"] == [int(datetime(2026, 1, 27, tzinfo=UTC).timestamp()), int(datetime(2026, 2, 2, tzinfo=UTC).timestamp())]
    week = rows[:12]
    assert as_bars(body)[0] == ((body["t"][0], week[0][1], max(r[2] for r in week),
                                              min(r[3] for r in week), week[-1][4], 1200))


def test_monthly_bars(auth_client: Any, instrument: Instrument) -> None:
    days = [ist(2026, 1, 30, 9, 15), ist(2026, 2, 2, 9, 15), ist(2026, 2, 27, 9, 15)]
    times = [t for day in days for t in session_minutes(day, count=2)]
    bars_from_closes(instrument, times, [10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    for resolution in ("M", "1M"):
        body = get(auth_client, resolution=resolution, **{"from": int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
                                                           "to": int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())})
        assert body["t"] == [int(datetime(2026, 1, 30, tzinfo=UTC).timestamp()), int(datetime(2026, 2, 2, tzinfo=UTC).timestamp())]
        assert body["c"] == [11.0, 15.0]


def test_no_data_without_older_bars(auth_client: Any, two_days: list[Row]) -> None:
    body = get(auth_client, resolution="1", **{"from": 1000, "to": 2000})
    assert body == {"s": "no_data"}
    assert get(auth_client, resolution="1", countback=10, **{"from": 1000, "to": 2000}) == {"s": "no_data"}


def test_empty_range_after_data_points_to_the_nearest_earlier_bar(auth_client: Any, two_days: list[Row]) -> None:
    later = DAY2 + timedelta(days=10)
    body = get(auth_client, resolution="1", **{"from": int(later.timestamp()), "to": int(later.timestamp()) + 3600})
    assert body == {"s": "no_data", "nextTime": int((DAY2 + timedelta(minutes=374)).timestamp())}


def test_times_are_ascending_and_unique(auth_client: Any, two_days: list[Row]) -> None:
    for resolution in ("1", "7", "15", "D", "W", "M"):
        body = get(auth_client, resolution=resolution, **{"from": 0, "to": int((DAY2 + timedelta(days=2)).timestamp())})
        assert body["t"] == sorted(set(body["t"])), resolution


def test_new_bars_invalidate_the_cache(auth_client: Any, two_days: list[Row], instrument: Instrument) -> None:
    params = {"resolution": "D", "from": 0, "to": int((DAY2 + timedelta(days=3)).timestamp())}
    assert len(get(auth_client, **params)["t"]) == 2
    assert len(get(auth_client, **params)["t"]) == 2  # served from cache
    day3 = ist(2026, 11, 25, 9, 15)
    bars_from_closes(instrument, session_minutes(day3, count=2), [1.5, 2.5])
    assert len(get(auth_client, **params)["t"]) == 3


def test_bar_cap_keeps_the_most_recent(auth_client: Any, two_days: list[Row], settings: Any) -> None:
    settings.UDF_MAX_BARS = 10
    body = get(auth_client, resolution="1", **{"from": 0, "to": int((DAY2 + timedelta(days=1)).timestamp())})
    assert body["t"] == [int((DAY2 + timedelta(minutes=365 + k)).timestamp()) for k in range(10)]


def test_split_back_adjusts_history_unless_raw_is_asked_for(auth_client: Any, two_days: list[Row],
                                                            instrument: Instrument) -> None:
    from marketdata.corporate_actions import corporate_action_save
    from marketdata.models import CorporateAction

    # 1:2 split (2 new for 1 old) effective on day 2: day-1 prices halve, volumes double.
    corporate_action_save(
        action=CorporateAction(instrument=instrument, underlying="TESTCO", action_type="split",
                               ex_date=datetime(2026, 11, 24).date(), ratio_numerator=2, ratio_denominator=1),
        source="test",
    )
    params = {"resolution": "D", "from": 0, "to": int((DAY2 + timedelta(days=1)).timestamp())}
    raw = as_bars(get(auth_client, adjusted=0, **params))
    adjusted = as_bars(get(auth_client, **params))
    assert raw == reference(two_days, daily_key)
    assert adjusted[1] == raw[1]
    assert adjusted[0] == (raw[0][0], round(raw[0][1] / 2, 4), round(raw[0][2] / 2, 4), round(raw[0][3] / 2, 4),
                           round(raw[0][4] / 2, 4), raw[0][5] * 2)
