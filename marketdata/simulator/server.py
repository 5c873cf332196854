"""The ticker service HTTP contract, served by the simulator on a local port (stdlib, one thread per request).

    GET /instruments                                   the instrument master (CSV)
    GET /quotes?tokens=1,2                             {"data": {"1": {"ltp": 1.0, "ts": 0}}}
    GET /history?token=&interval=minute&from=&to=      {"data": [[ts_ms, o, h, l, c, v, oi], …]}
    GET /health                                        {"status": "ok", …}

`from`/`to` are ISO-8601; a time without an offset is read as Asia/Kolkata (as brokers do), a bare
date as its midnight IST. Both ends are inclusive. Bars come from the database for the past and from
the simulator's own published ticks for the minutes it has played (those win: they are what it
published, including the minute still forming). Unknown tokens are left out of /quotes and are a
404 for /history; bad parameters are a 400. Errors use the project's JSON error shape.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from marketdata.calendar import MARKET_TZ
from marketdata.demo import to_csv
from marketdata.simulator.minutes import MinuteBook
from marketdata.simulator.model import MS_PER_MINUTE, tick_decimals
from marketdata.simulator.universe import INDEX, Universe
from tradeviz.errors import error_body

logger = logging.getLogger(__name__)

MAX_QUOTE_TOKENS = 500
MAX_HISTORY_DAYS = 60  # brokers cap minute history per request at about two months
HISTORY_INTERVALS = ("minute",)

StoredHistory = Callable[[int, int, int], list[list[Any]]]


class BadRequest(ValueError):
    pass


class TickerState:
    """What the HTTP threads read, updated by the simulation loop (one lock)."""

    def __init__(self, universe: Universe, quotes: Mapping[int, tuple[float, int]], book: MinuteBook) -> None:
        self._lock = threading.Lock()
        self._universe = universe
        self._quotes = dict(quotes)
        self._open: frozenset[str] = frozenset()
        self.book = book

    def set_universe(self, universe: Universe, quotes: Mapping[int, tuple[float, int]]) -> None:
        with self._lock:
            self._universe = universe
            self._quotes = dict(quotes)

    def record(self, ticks: list[dict[str, Any]], open_calendars: frozenset[str]) -> None:
        with self._lock:
            self._open = open_calendars
            for tick in ticks:
                self._quotes[tick["token"]] = (tick["ltp"], tick["ts"])
        self.book.add(ticks)

    def quotes(self, tokens: list[int]) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {str(t): {"ltp": self._quotes[t][0], "ts": self._quotes[t][1]} for t in tokens if t in self._quotes}

    def knows(self, token: int) -> bool:
        with self._lock:
            return self._universe.get(token) is not None

    def instruments_csv(self) -> str:
        with self._lock:
            universe, quotes = self._universe, dict(self._quotes)
        rows = []
        for listing in universe.listings:
            price = quotes.get(listing.token, (None, 0))[0]
            rows.append({
                "instrument_token": listing.token,
                "exchange_token": listing.token // 256,
                "tradingsymbol": listing.tradingsymbol,
                "name": listing.name,
                "last_price": "" if price is None else f"{price:.{tick_decimals(listing.tick_size)}f}",
                "expiry": listing.expiry.isoformat() if listing.expiry else "",
                "strike": f"{listing.strike:g}" if listing.strike else "0",
                "tick_size": f"{listing.tick_size:g}",
                "lot_size": 0 if listing.kind == INDEX else listing.lot_size,
                "instrument_type": "EQ" if listing.kind == INDEX else listing.kind,
                "segment": listing.segment,
                "exchange": listing.exchange,
            })
        return to_csv(rows)

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {"status": "ok", "instruments": len(self._universe.instruments),
                    "open_calendars": sorted(self._open)}


def parse_instant(raw: str, name: str) -> int:
    """ISO-8601 → epoch ms; no offset means Asia/Kolkata, a bare date its midnight."""
    text = raw.strip()
    if not text:
        raise BadRequest(f"{name} is required (ISO-8601).")
    try:
        if len(text) == 10:
            value = datetime.combine(date.fromisoformat(text), time.min)
        else:
            value = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise BadRequest(f"{name} is not an ISO-8601 date or time: {raw!r}.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=MARKET_TZ)
    return int(value.timestamp() * 1000)


def _single(params: dict[str, list[str]], name: str, *, required: bool = True, default: str = "") -> str:
    values = params.get(name)
    if not values:
        if required:
            raise BadRequest(f"{name} is required.")
        return default
    if len(values) > 1:
        raise BadRequest(f"{name} is given more than once.")
    return values[0]


def _token(raw: str, name: str = "token") -> int:
    text = raw.strip()
    if not text.isdigit() or int(text) <= 0 or len(text) > 18:
        raise BadRequest(f"{name} must be a positive integer: {raw!r}.")
    return int(text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The simulator binds one fixed local port; a restart must not wait for TIME_WAIT sockets.
    allow_reuse_address = True
    state: TickerState
    stored_history: StoredHistory


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "tradeviz-simulator"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        routes: dict[str, Callable[[dict[str, list[str]]], None]] = {
            "/instruments": self._instruments,
            "/quotes": self._quotes,
            "/history": self._history,
            "/health": self._health,
        }
        route = routes.get(url.path.rstrip("/") or "/")
        if route is None:
            self._error(HTTPStatus.NOT_FOUND, "not_found", f"No such endpoint: {url.path}.")
            return
        try:
            route(params)
        except BadRequest as exc:
            self._error(HTTPStatus.BAD_REQUEST, "invalid", str(exc))
        except Exception:
            logger.exception("simulator http: request failed", extra={"path": url.path})
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "server_error", "The simulator failed to answer.")

    def _refuse(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", "Only GET is supported.",
                    headers={"Allow": "GET"})

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

    def _instruments(self, params: dict[str, list[str]]) -> None:
        self._send(HTTPStatus.OK, self.server.state.instruments_csv().encode(), "text/csv; charset=utf-8")

    def _quotes(self, params: dict[str, list[str]]) -> None:
        raw = ",".join(params.get("tokens", []))
        parts = [p for p in raw.split(",") if p.strip()]
        if not parts:
            raise BadRequest("tokens is required: a comma-separated list of instrument tokens.")
        if len(parts) > MAX_QUOTE_TOKENS:
            raise BadRequest(f"At most {MAX_QUOTE_TOKENS} tokens per request.")
        tokens = [_token(p, "tokens") for p in parts]
        self._json(HTTPStatus.OK, {"data": self.server.state.quotes(tokens)})

    def _history(self, params: dict[str, list[str]]) -> None:
        token = _token(_single(params, "token"))
        interval = _single(params, "interval", required=False, default="minute")
        if interval not in HISTORY_INTERVALS:
            raise BadRequest(f"interval must be one of {', '.join(HISTORY_INTERVALS)}: {interval!r}.")
        start = parse_instant(_single(params, "from"), "from")
        end = parse_instant(_single(params, "to"), "to")
        if end < start:
            raise BadRequest("to is before from.")
        if end - start > timedelta(days=MAX_HISTORY_DAYS) / timedelta(milliseconds=1):
            raise BadRequest(f"At most {MAX_HISTORY_DAYS} days of minute history per request.")
        if not self.server.state.knows(token):
            self._error(HTTPStatus.NOT_FOUND, "not_found", f"Unknown instrument token {token}.")
            return
        # Bars are stamped at the minute start: a range from 10:00:30 includes the 10:00 bar's tail.
        first_minute = start - start % MS_PER_MINUTE
        merged = {int(row[0]): row for row in self.server.stored_history(token, first_minute, end)}
        for minute, bar in self.server.state.book.bars(token, first_minute, end).items():
            merged[minute] = [minute, *bar]
        self._json(HTTPStatus.OK, {"data": [merged[m] for m in sorted(merged)]})

    def _health(self, params: dict[str, list[str]]) -> None:
        self._json(HTTPStatus.OK, self.server.state.health())

    def _json(self, status: HTTPStatus, body: Any) -> None:
        self._send(status, orjson.dumps(body), "application/json")

    def _error(self, status: HTTPStatus, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        self._send(status, orjson.dumps(error_body(code=code, message=message)), "application/json", headers)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("simulator http: " + format, *args)


class TickerHttpServer:
    """The HTTP server in a background thread; `port` is the bound port (0 asks for a free one)."""

    def __init__(self, *, host: str, port: int, state: TickerState, stored_history: StoredHistory) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.state = state
        self._server.stored_history = stored_history
        self._thread = threading.Thread(target=self._server.serve_forever, name="simulator-http", daemon=True)

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        logger.info("simulator http: serving the ticker contract", extra={"url": self.url})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
