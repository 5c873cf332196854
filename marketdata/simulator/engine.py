"""The tick engine: deterministic ticks for a universe of instruments. Pure: no Redis, no database.

Time advances on a grid of batches. `step(ts_ms, open_calendars)` covers [ts_ms, ts_ms + batch_ms):
it moves the price paths of the open calendars to `ts_ms`, picks how many ticks the rate allows
among the open instruments (weighted: index, futures and near-ATM options tick more often), and
returns them in time order with event times inside the batch window. The caller publishes them once
the window has passed, so a tick's time is never in the future. Because the batch grid is aligned to
the minute and session bounds fall on whole minutes, checking the session at `ts_ms` is exact for
every tick of the batch.

The same seed, start time, universe, start points and sequence of `step` calls give the same ticks.

Prices: indices and stocks follow correlated log-normal walks (U-shaped intraday volatility on NSE,
an overnight gap at the first step of a new session); futures are F = S·e^{rT}; options are Black-76
on that forward with the smile of marketdata.simulator.model, whose level wanders slowly. Traded
instruments print at their bid or ask (the aggressor's side) around the model value, with five
levels of depth a tick or two apart; cumulative day volume restarts on each IST date; open interest
moves in whole lots.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from marketdata.simulator.model import (
    IST_OFFSET_MS,
    MS_PER_DAY,
    MS_PER_MINUTE,
    floor_to_tick,
    futures_fair,
    ist_day,
    option_fair,
    round_to_tick,
    tick_decimals,
    years_between,
)
from marketdata.simulator.universe import CE, FUT, INDEX, PE, Universe

Tick = dict[str, Any]

DEFAULT_BATCH_MS = 200
DEPTH_LEVELS = 5
NSE_OPEN_MINUTE_OF_DAY = 9 * 60 + 15
# A path never moves more than this many minutes of variance in one step (after a long pause).
MAX_STEP_MINUTES = 60.0
OVERNIGHT_GAP_SCALE = 0.55
TRADING_DAYS_PER_YEAR = 252
# The smile's level: mean-reverting around 1 (per minute), within bounds.
LEVEL_REVERSION_PER_MINUTE = 0.01
LEVEL_VOL_PER_MINUTE = 0.004
LEVEL_BOUNDS = (0.75, 1.4)
# Trade sizes: log-normal around the size that makes the day's volume come out at daily_volume.
TRADE_SIZE_SIGMA = 0.6
# Open interest, in whole lots: about this daily volatility (fraction of the base OI), a slow build-up
# per session, and a pull back towards where the instrument started (so it never runs away).
OI_DAILY_VOL = 0.03
OI_DAILY_DRIFT = 0.01
OI_DAILY_REVERSION = 0.5
# A stored OI this many times the demo's base is an artefact of old demo data: start from the base.
OI_SANITY_FACTOR = 50
# Depth: level quantities in units (lots for derivatives), a chance of a one-tick hole between levels.
DEPTH_MAX_UNITS = 40
LEVEL_GAP_PROBABILITY = 0.2
MAX_ORDERS_PER_LEVEL = 25
EXTRA_SPREAD_PROBABILITY = 0.25

_KIND_CODES = {INDEX: 0, "EQ": 1, FUT: 2, CE: 3, PE: 4}


@dataclass(frozen=True, slots=True)
class StartPoint:
    """Where an instrument starts: its last stored price and time, the day's volume so far, its OI."""

    price: float
    ts_ms: int
    day_volume: int = 0
    oi: int | None = None


def spread_ticks(kind: str, price: float) -> int:
    """The usual bid-ask spread in ticks for an instrument at this price."""
    if kind == FUT:
        return 1
    if kind == "EQ":
        return 1 if price < 1_000 else 2
    if price < 20:
        return 1
    if price < 150:
        return 2
    return 3


class TickEngine:
    def __init__(
        self,
        universe: Universe,
        *,
        seed: int,
        start_ms: int,
        ticks_per_second: float,
        batch_ms: int = DEFAULT_BATCH_MS,
        start_points: Mapping[int, StartPoint] | None = None,
    ) -> None:
        if batch_ms <= 0 or MS_PER_MINUTE % batch_ms:
            raise ValueError("batch_ms must divide a minute (60000 ms)")
        if ticks_per_second < 0:
            raise ValueError("ticks_per_second must not be negative")
        self.seed = seed
        self.start_ms = start_ms
        self.batch_ms = batch_ms
        self.ticks_per_second = ticks_per_second
        self.rng = np.random.default_rng([seed, start_ms])
        self._batches = 0
        self._due = 0
        self._clock_ms = start_ms  # the latest batch stepped to
        self.universe = universe
        self._paths_init(universe, start_points or {}, previous=None)
        self._instruments_init(universe, start_points or {}, previous=None)

    # --- state -----------------------------------------------------------------------------------

    def _paths_init(self, universe: Universe, start_points: Mapping[int, StartPoint],
                    previous: _Snapshot | None) -> None:
        paths = universe.paths
        self._paths = paths
        self._path_index = {p.token: i for i, p in enumerate(paths)}
        n = len(paths)
        self._path_price = np.empty(n)
        self._path_ms = np.empty(n, dtype=np.int64)
        self._path_level = np.ones(n)
        for i, p in enumerate(paths):
            old = previous._path_index.get(p.token) if previous is not None else None
            if previous is not None and old is not None:
                self._path_price[i] = previous._path_price[old]
                self._path_ms[i] = previous._path_ms[old]
                self._path_level[i] = previous._path_level[old]
                continue
            point = start_points.get(p.token)
            self._path_price[i] = point.price if point else p.start_price
            self._path_ms[i] = point.ts_ms if point else self.start_ms
        self._path_market = np.array(
            [self._path_index[p.market] if p.market is not None else -1 for p in paths], dtype=np.int64
        )

    def _instruments_init(self, universe: Universe, start_points: Mapping[int, StartPoint],
                          previous: _Snapshot | None) -> None:
        items = universe.instruments
        n = len(items)
        self._items = items
        self._index = {item.token: i for i, item in enumerate(items)}
        self._calendar = np.array([item.calendar for item in items], dtype=object)
        self._weight = np.array([item.weight for item in items], dtype=np.float64)
        self._path_of = np.array([self._path_index[item.path] for item in items], dtype=np.int64)
        self._kind = np.array([_KIND_CODES[item.kind] for item in items], dtype=np.int64)
        self._strike = np.array([item.strike or 0.0 for item in items], dtype=np.float64)
        self._expiry = np.array(
            [item.expiry_ms if item.expiry_ms is not None else np.iinfo(np.int64).max for item in items],
            dtype=np.int64,
        )
        self._decimals = [tick_decimals(item.tick_size) for item in items]
        self._cum = np.zeros(n, dtype=np.int64)
        self._vol_day = np.full(n, -1, dtype=np.int64)
        self._oi = np.zeros(n, dtype=np.int64)
        self._oi_anchor = np.zeros(n, dtype=np.float64)
        self._ltp = np.full(n, np.nan)
        self._ts = np.zeros(n, dtype=np.int64)
        fresh: list[int] = []
        for i, item in enumerate(items):
            old = previous._index.get(item.token) if previous is not None else None
            if previous is not None and old is not None:
                for name in ("_cum", "_vol_day", "_oi", "_oi_anchor", "_ltp", "_ts"):
                    getattr(self, name)[i] = getattr(previous, name)[old]
                continue
            point = start_points.get(item.token)
            if point is not None:
                self._ltp[i] = point.price
                self._ts[i] = point.ts_ms
                self._vol_day[i] = ist_day(point.ts_ms)
                self._cum[i] = point.day_volume
            else:
                fresh.append(i)
                self._ts[i] = self._clock_ms
            if item.is_derivative:
                base = item.base_oi
                if point is not None and point.oi and point.oi <= OI_SANITY_FACTOR * item.base_oi:
                    base = point.oi
                self._oi[i] = max(item.lot_size, round(base / item.lot_size) * item.lot_size)
                self._oi_anchor[i] = self._oi[i]
        if fresh:
            picks = np.array(fresh, dtype=np.int64)
            fair = self._fair(picks, self._clock_ms)
            for i, value in zip(fresh, fair, strict=True):
                self._ltp[i] = float(round_to_tick(max(value, items[i].tick_size), items[i].tick_size))

    def set_universe(self, universe: Universe, start_points: Mapping[int, StartPoint] | None = None) -> None:
        """Switch to a new universe (a relisting): instruments already known keep their state."""
        previous = _Snapshot.of(self)
        self.universe = universe
        self._paths_init(universe, start_points or {}, previous=previous)
        self._instruments_init(universe, start_points or {}, previous=previous)

    # --- prices ----------------------------------------------------------------------------------

    def _profile(self, path: int, ts_ms: int) -> float:
        spec = self._paths[path]
        if not spec.intraday_profile:
            return 1.0
        minute_of_day = ((ts_ms + IST_OFFSET_MS) % MS_PER_DAY) / MS_PER_MINUTE
        n = spec.session_minutes
        x = min(max(-1.0 + 2.0 * (minute_of_day - NSE_OPEN_MINUTE_OF_DAY) / (n - 1), -1.0), 1.0)
        return 0.6 + 1.2 * x * x  # mean 1 over the session

    def _advance_paths(self, ts_ms: int, open_calendars: frozenset[str]) -> None:
        n = len(self._paths)
        # Always the same draws, whatever is open: the stream of numbers depends on the step count only.
        z = self.rng.standard_normal(n)
        gap = self.rng.standard_normal(n)
        level_z = self.rng.standard_normal(n)
        day = ist_day(ts_ms)
        for i, spec in enumerate(self._paths):
            if spec.calendar not in open_calendars:
                continue
            if spec.overnight_gaps and ist_day(int(self._path_ms[i])) != day:
                self._path_price[i] *= math.exp(
                    gap[i] * spec.annual_vol / math.sqrt(TRADING_DAYS_PER_YEAR) * OVERNIGHT_GAP_SCALE
                )
                minutes = self.batch_ms / MS_PER_MINUTE
            else:
                minutes = min(max((ts_ms - int(self._path_ms[i])) / MS_PER_MINUTE, 0.0), MAX_STEP_MINUTES)
            market = int(self._path_market[i])
            shock = z[i] if market < 0 else (
                spec.correlation * z[market] + math.sqrt(1.0 - spec.correlation**2) * z[i]
            )
            sigma = spec.annual_vol / math.sqrt(spec.minutes_per_year)
            self._path_price[i] *= math.exp(sigma * math.sqrt(minutes * self._profile(i, ts_ms)) * shock)
            level = self._path_level[i]
            level += LEVEL_REVERSION_PER_MINUTE * (1.0 - level) * minutes
            level += LEVEL_VOL_PER_MINUTE * math.sqrt(minutes) * level_z[i]
            self._path_level[i] = min(max(level, LEVEL_BOUNDS[0]), LEVEL_BOUNDS[1])
            self._path_ms[i] = ts_ms

    def _fair(self, picks: npt.NDArray[np.int64], ts_ms: int) -> npt.NDArray[np.float64]:
        """Model values of the picked instruments at `ts_ms` from the current path state."""
        paths = self._path_of[picks]
        spot = self._path_price[paths]
        fair = spot.copy()
        kind = self._kind[picks]
        t = years_between(ts_ms, self._expiry[picks].astype(np.float64))
        fut = kind == _KIND_CODES[FUT]
        if fut.any():
            fair[fut] = futures_fair(spot[fut], t[fut])
        opt = kind >= _KIND_CODES[CE]
        if opt.any():
            fair[opt] = option_fair(
                spot=spot[opt], strike=self._strike[picks][opt], t_years=t[opt],
                is_call=kind[opt] == _KIND_CODES[CE], level=self._path_level[paths][opt],
            )
        return fair

    def fair_values(self, tokens: Collection[int], ts_ms: int) -> dict[int, float]:
        """The model value of each token at `ts_ms` (no tick rounding, no spread)."""
        picks = np.array([self._index[t] for t in tokens], dtype=np.int64)
        return {int(self._items[i].token): float(v) for i, v in zip(picks, self._fair(picks, ts_ms), strict=True)}

    def spot(self, path_token: int) -> float:
        return float(self._path_price[self._path_index[path_token]])

    def last_prices(self) -> dict[int, tuple[float, int]]:
        """token → (last price, its time in epoch ms) for every instrument."""
        return {
            item.token: (float(self._ltp[i]), int(self._ts[i]))
            for i, item in enumerate(self._items) if not math.isnan(self._ltp[i])
        }

    # --- ticks -----------------------------------------------------------------------------------

    def eligible(self, ts_ms: int, open_calendars: Collection[str]) -> npt.NDArray[np.int64]:
        """Indices of the instruments that may tick at `ts_ms`: calendar open, contract not expired."""
        if not open_calendars:
            return np.zeros(0, dtype=np.int64)
        is_open = np.isin(self._calendar, list(open_calendars))
        return np.flatnonzero(is_open & (ts_ms < self._expiry))

    def step(self, ts_ms: int, open_calendars: Collection[str]) -> list[Tick]:
        """The ticks of the batch [ts_ms, ts_ms + batch_ms), in time order."""
        if ts_ms % self.batch_ms:
            raise ValueError("ts_ms must lie on the batch grid")
        open_set = frozenset(open_calendars)
        self._clock_ms = ts_ms
        self._advance_paths(ts_ms, open_set)
        # The rate over all batches so far, so fractions per batch add up without drift.
        self._batches += 1
        due = int(self.ticks_per_second * self._batches * self.batch_ms / 1000.0 + 1e-9)
        count = due - self._due
        self._due = due
        eligible = self.eligible(ts_ms, open_set)
        if count == 0 or eligible.size == 0:
            return []
        weights = self._weight[eligible]
        total_weight = float(weights.sum())
        picks = eligible[self.rng.choice(eligible.size, size=count, p=weights / total_weight)]
        offsets = np.sort(self.rng.integers(0, self.batch_ms, size=count))
        fair = self._fair(picks, ts_ms)
        # Random draws for the whole batch at once, as Python lists: per-element numpy access is slow.
        side_buy = (self.rng.random(count) < 0.5).tolist()
        size_noise = self.rng.lognormal(-0.5 * TRADE_SIZE_SIGMA**2, TRADE_SIZE_SIGMA, count).tolist()
        oi_steps = self.rng.standard_normal(count).tolist()
        extra_spread = (self.rng.random(count) < EXTRA_SPREAD_PROBABILITY).tolist()
        depth_units = self.rng.integers(1, DEPTH_MAX_UNITS, size=(count, 2 * DEPTH_LEVELS)).tolist()
        depth_gaps = (self.rng.random((count, 2 * DEPTH_LEVELS)) < LEVEL_GAP_PROBABILITY).tolist()
        depth_orders = self.rng.random((count, 2 * DEPTH_LEVELS)).tolist()
        # Ticks per session each instrument gets at this rate and mix, for the trade size.
        ticks_per_minute = (self.ticks_per_second * 60.0 * self._weight / total_weight).tolist()
        fair_values = fair.tolist()
        offset_values = offsets.tolist()

        ticks: list[Tick] = []
        for j, i in enumerate(picks.tolist()):
            item = self._items[i]
            ts = ts_ms + offset_values[j]
            digits = self._decimals[i]
            tick_size = item.tick_size
            if item.is_index:
                ltp = round(round(fair_values[j] / tick_size) * tick_size, digits)
                self._ltp[i], self._ts[i] = ltp, ts
                ticks.append({"token": item.token, "ts": ts, "ltp": ltp})
                continue
            value = max(fair_values[j], tick_size)
            spread = spread_ticks(item.kind, value) + int(extra_spread[j])
            bid = max(tick_size, floor_to_tick(value - spread * tick_size / 2.0, tick_size))
            ask = bid + spread * tick_size
            ltp = ask if side_buy[j] else bid
            per_session = item.session_minutes * ticks_per_minute[i]
            mean_size = item.daily_volume / per_session if per_session > 0 else item.lot_size
            lot = item.lot_size
            quantity = max(lot, round(mean_size * size_noise[j] / lot) * lot)
            day = ist_day(ts)
            if self._vol_day[i] != day:
                self._vol_day[i] = day
                self._cum[i] = 0
            self._cum[i] += quantity
            unit = lot if item.is_derivative else max(1, int(mean_size / 4))
            buy = _levels(bid, -tick_size, depth_gaps[j][:DEPTH_LEVELS], depth_units[j][:DEPTH_LEVELS],
                          depth_orders[j][:DEPTH_LEVELS], unit, tick_size, digits)
            sell = _levels(ask, tick_size, depth_gaps[j][DEPTH_LEVELS:], depth_units[j][DEPTH_LEVELS:],
                           depth_orders[j][DEPTH_LEVELS:], unit, tick_size, digits)
            ltp = round(ltp, digits)
            tick: Tick = {"token": item.token, "ts": ts, "ltp": ltp, "volume": int(self._cum[i])}
            if item.is_derivative:
                oi = int(self._oi[i])
                change = (
                    item.base_oi * OI_DAILY_DRIFT / per_session
                    + OI_DAILY_REVERSION * (self._oi_anchor[i] - oi) / per_session
                    + item.base_oi * OI_DAILY_VOL / math.sqrt(per_session) * oi_steps[j]
                ) if per_session > 0 else 0.0
                self._oi[i] = max(lot, oi + round(change / lot) * lot)
                tick["oi"] = int(self._oi[i])
            tick.update(
                bid=buy[0][0], bid_qty=buy[0][1], ask=sell[0][0], ask_qty=sell[0][1],
                depth={"buy": buy, "sell": sell},
            )
            self._ltp[i], self._ts[i] = ltp, ts
            ticks.append(tick)
        return ticks


def _levels(best: float, direction: float, gaps: list[bool], units: list[int], orders: list[float], unit: int,
            tick_size: float, digits: int) -> list[list[Any]]:
    """Up to five [price, quantity, orders] levels from `best` outwards (buy side: prices fall)."""
    levels: list[list[Any]] = []
    price = best
    for k in range(DEPTH_LEVELS):
        if k:
            price += direction * (2 if gaps[k] else 1)
        if price < tick_size - 1e-9:
            break  # no bids at or below zero
        quantity_units = units[k] * (1 + k // 2)
        count = 1 + int(orders[k] * min(quantity_units, MAX_ORDERS_PER_LEVEL - 1))
        levels.append([round(price, digits), quantity_units * unit, count])
    return levels


@dataclass
class _Snapshot:
    """The state of an engine before a universe switch (the fields set_universe carries over)."""

    _paths: Any
    _path_index: dict[int, int]
    _path_price: npt.NDArray[np.float64]
    _path_ms: npt.NDArray[np.int64]
    _path_level: npt.NDArray[np.float64]
    _index: dict[int, int]
    _cum: npt.NDArray[np.int64]
    _vol_day: npt.NDArray[np.int64]
    _oi: npt.NDArray[np.int64]
    _oi_anchor: npt.NDArray[np.float64]
    _ltp: npt.NDArray[np.float64]
    _ts: npt.NDArray[np.int64]

    @classmethod
    def of(cls, engine: TickEngine) -> _Snapshot:
        return cls(**{name: getattr(engine, name) for name in cls.__dataclass_fields__})


def generate(
    universe: Universe,
    *,
    seed: int,
    start_ms: int,
    batches: int,
    ticks_per_second: float,
    open_calendars: Callable[[int], Collection[str]],
    batch_ms: int = DEFAULT_BATCH_MS,
    start_points: Mapping[int, StartPoint] | None = None,
) -> list[list[Tick]]:
    """`batches` consecutive batches from `start_ms` (which must lie on the batch grid): a pure function
    of its arguments. `open_calendars(ts_ms)` says which calendars are open for the batch at ts_ms."""
    engine = TickEngine(universe, seed=seed, start_ms=start_ms, ticks_per_second=ticks_per_second,
                        batch_ms=batch_ms, start_points=start_points)
    return [engine.step(start_ms + k * batch_ms, open_calendars(start_ms + k * batch_ms)) for k in range(batches)]
