// The chart dashboard: lightweight-charts v5 (the global `LightweightCharts`, loaded by the page from
// node_modules) fed by the UDF endpoints with the session cookie.
//
// Data flow: showSeries(symbol, resolution) resolves the symbol, loads the newest page of bars and hands
// the newest bar to applyBar(); scrolling near the left edge calls loadOlder(), which prepends pages
// (countback before the oldest loaded bar) until the datafeed answers no_data. applyBar() is the only
// way a bar reaches the end of the series, so live bars (/ws/ticks) plug in there.

const { createChart, CandlestickSeries, HistogramSeries, ColorType, CrosshairMode, TickMarkType } =
  window.LightweightCharts;

const PAGE_BARS = 300; // countback of the first load and of every older page
const LOAD_OLDER_WHEN_BARS_LEFT = 50; // fetch the previous page when fewer bars remain left of the view
const OLDER_RETRY_MS = 5000; // after a failed older page, wait this long before trying again
const SEARCH_DEBOUNCE_MS = 250;
const SEARCH_LIMIT = 30;
const DEFAULT_RESOLUTION = '1';
const MARKET_TIME_ZONE = 'Asia/Kolkata';
const LOCALE = 'en-IN';
// Only used to give `from` a sensible value; with countback the datafeed decides how far back to go.
const PERIOD_SECONDS = { D: 86400, W: 7 * 86400, M: 31 * 86400 };

const root = document.getElementById('chart-app');
const udfUrl = root.dataset.udfUrl;
const elements = {
  chart: document.getElementById('chart'),
  symbol: document.getElementById('chart-symbol'),
  description: document.getElementById('chart-description'),
  status: document.getElementById('chart-status'),
  legend: document.getElementById('chart-legend'),
  resolutions: document.getElementById('chart-resolutions'),
  searchInput: document.getElementById('symbol-search-input'),
  searchResults: document.getElementById('symbol-search-results'),
};
const RESOLUTIONS = [...elements.resolutions.querySelectorAll('input[name="resolution"]')].map((input) => input.value);

const state = {
  symbol: '',
  resolution: '',
  info: null, // the UDF symbol info of `symbol`
  precision: 2,
  bars: [], // ascending by time, unique: {time, open, high, low, close, volume}
  generation: 0, // bumped by every showSeries(); replies of an older generation are dropped
  controller: null, // aborts the requests of the previous generation
  older: { loading: false, exhausted: false, retryAt: 0 },
};

class UdfError extends Error {}

// --- time display: the chart works in UTC seconds; we show IST -----------------------------------------

const isIntraday = (resolution) => /^\d+$/.test(resolution);

const partFormatters = new Map();
// Intraday bars are real instants, shown in IST. Daily and longer bars are stamped 00:00 UTC of their
// date, so they are read in UTC: in IST they would still be the same date, but only by luck of the offset.
function timeParts(time) {
  const timeZone = isIntraday(state.resolution) ? MARKET_TIME_ZONE : 'UTC';
  let formatter = partFormatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat(LOCALE, {
      timeZone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    });
    partFormatters.set(timeZone, formatter);
  }
  const parts = {};
  for (const { type, value } of formatter.formatToParts(new Date(time * 1000))) parts[type] = value;
  return parts;
}

// The crosshair label: "Mon 1 Dec 2025 09:15" (intraday) or "Mon 1 Dec 2025".
function formatCrosshairTime(time) {
  const p = timeParts(time);
  const date = `${p.weekday} ${p.day} ${p.month} ${p.year}`;
  return isIntraday(state.resolution) ? `${date} ${p.hour}:${p.minute}` : date;
}

// Tick marks on the time axis. The chart decides the mark type from UTC boundaries; the NSE session
// (03:45–10:00 UTC) never crosses a UTC midnight, so a day's first bar is the first in either zone.
function formatTickMark(time, tickMarkType) {
  const p = timeParts(time);
  switch (tickMarkType) {
    case TickMarkType.Year: return p.year;
    case TickMarkType.Month: return p.month;
    case TickMarkType.DayOfMonth: return `${p.day} ${p.month}`;
    case TickMarkType.Time: return `${p.hour}:${p.minute}`;
    case TickMarkType.TimeWithSeconds: return `${p.hour}:${p.minute}:${p.second}`;
    default: return null;
  }
}

// --- the chart ---------------------------------------------------------------------------------------------

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function withAlpha(hexColor, alpha) {
  const hex = hexColor.replace('#', '');
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

const colors = {
  up: css('--up'), down: css('--down'), bg: css('--bg'), line: css('--line'), muted: css('--muted'),
};
const volumeColors = { up: withAlpha(colors.up, 0.45), down: withAlpha(colors.down, 0.45) };

const chart = createChart(elements.chart, {
  autoSize: true,
  layout: {
    background: { type: ColorType.Solid, color: colors.bg },
    textColor: colors.muted,
    fontFamily: getComputedStyle(document.body).fontFamily,
    attributionLogo: true, // TradingView's licence asks for the attribution; keep it visible
  },
  grid: { vertLines: { color: colors.line }, horzLines: { color: colors.line } },
  crosshair: { mode: CrosshairMode.Normal },
  rightPriceScale: { borderColor: colors.line },
  timeScale: {
    borderColor: colors.line, rightOffset: 4, timeVisible: true, secondsVisible: false, tickMarkFormatter: formatTickMark,
  },
  localization: { locale: LOCALE, timeFormatter: formatCrosshairTime },
});

const candleSeries = chart.addSeries(CandlestickSeries, {
  upColor: colors.up, downColor: colors.down, wickUpColor: colors.up, wickDownColor: colors.down,
  borderVisible: false,
});
candleSeries.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.28 } });

// Volume on its own overlay scale, squeezed into the bottom fifth under the candles.
const volumeSeries = chart.addSeries(HistogramSeries, {
  priceScaleId: 'volume', priceFormat: { type: 'volume' }, lastValueVisible: false, priceLineVisible: false,
});
volumeSeries.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });

const toCandle = (bar) => ({ time: bar.time, open: bar.open, high: bar.high, low: bar.low, close: bar.close });
const toVolume = (bar) => ({
  time: bar.time, value: bar.volume, color: bar.close >= bar.open ? volumeColors.up : volumeColors.down,
});

function setSeriesData(bars) {
  candleSeries.setData(bars.map(toCandle));
  volumeSeries.setData(bars.map(toVolume));
}

function indexOfTime(time) {
  let lo = 0;
  let hi = state.bars.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const midTime = state.bars[mid].time;
    if (midTime === time) return mid;
    if (midTime < time) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

// The single entry point for a bar at the end of the series: the newest bar of a history load, and
// (next) every forming or closed bar pushed live. A bar with the last bar's time replaces it, a newer one
// is appended, a bar already loaded further back is corrected in place; a bar older than what is loaded
// is not ours to insert (the next history page brings it). Returns whether the chart changed.
function applyBar(bar) {
  const last = state.bars[state.bars.length - 1];
  let historical = false;
  if (!last || bar.time > last.time) {
    state.bars.push(bar);
  } else if (bar.time === last.time) {
    state.bars[state.bars.length - 1] = bar;
  } else {
    const index = indexOfTime(bar.time);
    if (index < 0) return false;
    state.bars[index] = bar;
    historical = true;
  }
  candleSeries.update(toCandle(bar), historical);
  volumeSeries.update(toVolume(bar), historical);
  if (bar === state.bars[state.bars.length - 1]) renderLegend(bar);
  return true;
}

// --- header, legend, status --------------------------------------------------------------------------------

const volumeFormat = new Intl.NumberFormat(LOCALE, { notation: 'compact', maximumFractionDigits: 2 });

function renderLegend(bar) {
  if (!bar) {
    elements.legend.textContent = '';
    return;
  }
  const price = (value) => value.toFixed(state.precision);
  const change = bar.close - bar.open;
  elements.legend.replaceChildren(
    ...[['O', price(bar.open)], ['H', price(bar.high)], ['L', price(bar.low)], ['C', price(bar.close)],
      ['V', volumeFormat.format(bar.volume)]].map(([name, value]) => {
      const item = document.createElement('span');
      item.className = change >= 0 ? 'up' : 'down';
      item.textContent = `${name} ${value}`;
      return item;
    }),
  );
}

chart.subscribeCrosshairMove((param) => {
  const index = param.time === undefined ? -1 : indexOfTime(param.time);
  renderLegend(index >= 0 ? state.bars[index] : state.bars[state.bars.length - 1]);
});

// The status line shows the load state of the series; when that has nothing to say, the state of the
// live connection (which says nothing while it is healthy).
const statusLine = { load: { text: '', kind: 'info' }, live: { text: '', kind: 'info' } };

function renderStatus() {
  const { text, kind } = statusLine.load.text ? statusLine.load : statusLine.live;
  elements.status.textContent = text;
  elements.status.dataset.kind = text ? kind : '';
}

function setStatus(text, kind = 'info') {
  statusLine.load = { text, kind };
  renderStatus();
}

function resolutionLabel(resolution) {
  const input = elements.resolutions.querySelector(`input[value="${CSS.escape(resolution)}"]`);
  return input ? input.labels[0].textContent.trim() : resolution;
}

// The hook the browser tests read: what the chart shows after each load.
function publish() {
  window.tradevizChart = Object.freeze({
    barsLoaded: state.bars.length, resolution: state.resolution, symbol: state.symbol,
  });
}

// --- the datafeed ------------------------------------------------------------------------------------------

function errorMessage(error) {
  if (error instanceof UdfError) return error.message;
  if (error instanceof TypeError) return 'the server could not be reached';
  return String(error && error.message ? error.message : error);
}

const isAbort = (error) => error && error.name === 'AbortError';

async function udf(endpoint, params, signal) {
  const url = new URL(`${udfUrl}/${endpoint}`, window.location.origin);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, String(value));
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, signal });
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    if (isAbort(error)) throw error;
  }
  if (!response.ok) {
    const detail = body && (body.errmsg || (body.error && body.error.message) || body.detail);
    if (response.status === 401 || response.status === 403) {
      throw new UdfError(`${endpoint}: not signed in (HTTP ${response.status}); reload the page to log in`);
    }
    throw new UdfError(`${endpoint}: HTTP ${response.status}${detail ? ` – ${detail}` : ''}`);
  }
  if (body === null) throw new UdfError(`${endpoint}: the reply is not JSON`);
  if (!Array.isArray(body) && body.s === 'error') throw new UdfError(`${endpoint}: ${body.errmsg || 'error'}`);
  return body;
}

function barsFromReply(reply) {
  const { t, o, h, l, c, v } = reply;
  if (![t, o, h, l, c].every((column) => Array.isArray(column) && column.length === t.length)) {
    throw new UdfError('history: malformed reply (t, o, h, l, c must be arrays of one length)');
  }
  const bars = t.map((time, i) => ({
    time, open: o[i], high: h[i], low: l[i], close: c[i], volume: v && v[i] != null ? v[i] : 0,
  }));
  return mergeBars([], bars);
}

// Ascending by time, one bar per time; on a clash the bar from `newer` wins (it is the fresher reply).
function mergeBars(older, newer) {
  const byTime = new Map();
  for (const bar of older) byTime.set(bar.time, bar);
  for (const bar of newer) byTime.set(bar.time, bar);
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}

function requestBars(symbol, resolution, to, signal) {
  const step = PERIOD_SECONDS[resolution] || Number(resolution) * 60;
  return udf('history', { symbol, resolution, from: to - PAGE_BARS * step, to, countback: PAGE_BARS }, signal);
}

// The page of bars before `to` (exclusive). A no_data reply may name the time of the nearest earlier bar
// (`nextTime`); ask once more from there.
async function fetchBars(symbol, resolution, to, signal) {
  const reply = await requestBars(symbol, resolution, to, signal);
  if (reply.s === 'no_data' && Number.isFinite(reply.nextTime) && reply.nextTime < to) {
    return requestBars(symbol, resolution, reply.nextTime + 1, signal);
  }
  return reply;
}

function applySymbolInfo(symbol, info) {
  state.info = info;
  const pricescale = Number(info.pricescale) || 100;
  const minmov = Number(info.minmov) || 1;
  state.precision = Math.max(0, Math.round(Math.log10(pricescale)));
  candleSeries.applyOptions({ priceFormat: { type: 'price', precision: state.precision, minMove: minmov / pricescale } });
  elements.symbol.textContent = info.full_name || (info.exchange ? `${info.exchange}:${info.name}` : symbol);
  elements.description.textContent = [info.description, info.type, info.exchange].filter(Boolean).join(' · ');
  document.title = `${elements.symbol.textContent} · Chart · tradeviz`;
}

function rememberInUrl(symbol, resolution) {
  const url = new URL(window.location.href);
  url.searchParams.set('symbol', symbol);
  url.searchParams.set('resolution', resolution);
  window.history.replaceState(null, '', url);
}

function markResolution(resolution) {
  for (const input of elements.resolutions.querySelectorAll('input[name="resolution"]')) {
    input.checked = input.value === resolution;
  }
  chart.timeScale().applyOptions({ timeVisible: isIntraday(resolution) });
}

// Shows `symbol` at `resolution`: the one place where what the chart follows changes.
async function showSeries(symbol, resolution) {
  const generation = ++state.generation;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  if (symbol !== state.symbol) state.info = null;
  state.symbol = symbol;
  state.resolution = resolution;
  state.older = { loading: false, exhausted: false, retryAt: 0 };
  followLive(null); // bars of the previous series must not land on the next one
  markResolution(resolution);
  rememberInUrl(symbol, resolution);
  setStatus(`Loading ${symbol} (${resolutionLabel(resolution)})…`, 'busy');
  try {
    if (!state.info) {
      const info = await udf('symbols', { symbol }, controller.signal);
      if (generation !== state.generation) return;
      applySymbolInfo(symbol, info);
    }
    const ticker = state.info.ticker || symbol;
    const reply = await fetchBars(ticker, resolution, Math.floor(Date.now() / 1000), controller.signal);
    if (generation !== state.generation) return;
    const bars = reply.s === 'no_data' ? [] : barsFromReply(reply);
    state.bars = bars.slice(0, -1);
    setSeriesData(state.bars);
    if (bars.length) applyBar(bars[bars.length - 1]);
    else renderLegend(null);
    chart.timeScale().resetTimeScale();
    setStatus(bars.length ? '' : `No bars for ${symbol} at ${resolutionLabel(resolution)}.`);
    followLive(ticker, resolution);
    publish();
    nearLeftEdge(chart.timeScale().getVisibleLogicalRange());
  } catch (error) {
    if (isAbort(error) || generation !== state.generation) return;
    state.bars = [];
    setSeriesData([]);
    renderLegend(null);
    setStatus(`Could not load ${symbol}: ${errorMessage(error)}`, 'error');
    publish();
  }
}

// Prepends the page of bars before the oldest loaded one.
async function loadOlder() {
  const { older } = state;
  if (older.loading || older.exhausted || !state.bars.length || Date.now() < older.retryAt) return;
  const generation = state.generation;
  const oldest = state.bars[0].time;
  older.loading = true;
  try {
    const ticker = (state.info && state.info.ticker) || state.symbol;
    const reply = await fetchBars(ticker, state.resolution, oldest, state.controller.signal);
    if (generation !== state.generation) return;
    const page = reply.s === 'no_data' ? [] : barsFromReply(reply).filter((bar) => bar.time < oldest);
    if (!page.length) {
      older.exhausted = true;
      return;
    }
    state.bars = mergeBars(page, state.bars);
    setSeriesData(state.bars);
    if (elements.status.dataset.kind === 'error') setStatus('');
    publish();
  } catch (error) {
    if (isAbort(error) || generation !== state.generation) return;
    older.retryAt = Date.now() + OLDER_RETRY_MS;
    setStatus(`Could not load older bars: ${errorMessage(error)}`, 'error');
  } finally {
    older.loading = false;
  }
  // Still near the edge (a short page, or zoomed far out): keep going.
  nearLeftEdge(chart.timeScale().getVisibleLogicalRange());
}

function nearLeftEdge(range) {
  if (!range) return;
  const info = candleSeries.barsInLogicalRange(range);
  if (info && info.barsBefore < LOAD_OLDER_WHEN_BARS_LEFT) loadOlder();
}

chart.timeScale().subscribeVisibleLogicalRangeChange(nearLeftEdge);

elements.resolutions.addEventListener('change', (event) => {
  if (event.target.name === 'resolution') showSeries(state.symbol, event.target.value);
});

// --- symbol search: an ARIA 1.2 combobox over UDF search ------------------------------------------------

function setupSearch() {
  const input = elements.searchInput;
  const list = elements.searchResults;
  let results = [];
  let active = -1;
  let timer = 0;
  let controller = null;

  const isOpen = () => !list.hidden;

  function close() {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }

  function highlight(index) {
    const options = list.querySelectorAll('[role="option"]:not([aria-disabled="true"])');
    if (!options.length) return;
    active = (index + options.length) % options.length;
    options.forEach((option, i) => option.setAttribute('aria-selected', String(i === active)));
    input.setAttribute('aria-activedescendant', options[active].id);
    options[active].scrollIntoView({ block: 'nearest' });
  }

  function render(items) {
    results = items;
    active = -1;
    input.removeAttribute('aria-activedescendant');
    const options = items.map((item, i) => {
      const option = document.createElement('li');
      option.id = `symbol-option-${i}`;
      option.setAttribute('role', 'option');
      option.setAttribute('aria-selected', 'false');
      const name = document.createElement('span');
      name.className = 'symbol-name';
      name.textContent = item.full_name || item.symbol;
      const description = document.createElement('span');
      description.className = 'symbol-description';
      description.textContent = item.description || '';
      const kind = document.createElement('span');
      kind.className = 'symbol-kind';
      kind.textContent = [item.exchange, item.type].filter(Boolean).join(' · ');
      option.append(name, description, kind);
      option.addEventListener('mousedown', (event) => event.preventDefault()); // keep focus in the input
      option.addEventListener('click', () => pick(item));
      return option;
    });
    if (!options.length) {
      const empty = document.createElement('li');
      empty.setAttribute('role', 'option');
      empty.setAttribute('aria-disabled', 'true');
      empty.className = 'symbol-empty';
      empty.textContent = 'No matching symbols';
      options.push(empty);
    }
    list.replaceChildren(...options);
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  }

  async function search() {
    const query = input.value.trim().toUpperCase();
    if (controller) controller.abort();
    if (!query) {
      close();
      return;
    }
    controller = new AbortController();
    const { signal } = controller;
    try {
      const reply = await udf('search', { query, type: '', exchange: '', limit: SEARCH_LIMIT }, signal);
      if (signal.aborted) return;
      if (!Array.isArray(reply)) throw new UdfError('search: the reply is not a list of symbols');
      render(reply);
    } catch (error) {
      if (isAbort(error) || signal.aborted) return;
      close();
      setStatus(`Search failed: ${errorMessage(error)}`, 'error');
    }
  }

  function pick(item) {
    const symbol = item.ticker || item.full_name || item.symbol;
    if (controller) controller.abort();
    clearTimeout(timer);
    close();
    results = [];
    input.value = '';
    showSeries(symbol, state.resolution);
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(search, SEARCH_DEBOUNCE_MS);
  });

  input.addEventListener('keydown', (event) => {
    switch (event.key) {
      case 'ArrowDown':
      case 'ArrowUp': {
        if (!results.length) return;
        event.preventDefault();
        if (!isOpen()) render(results);
        highlight(active < 0 && event.key === 'ArrowUp' ? -1 : active + (event.key === 'ArrowDown' ? 1 : -1));
        break;
      }
      case 'Enter': {
        event.preventDefault();
        if (isOpen() && results.length) pick(results[Math.max(active, 0)]);
        else if (input.value.trim()) pick({ ticker: input.value.trim().toUpperCase() });
        break;
      }
      case 'Escape': {
        if (isOpen()) {
          event.preventDefault();
          close();
        }
        break;
      }
      default:
    }
  });

  input.addEventListener('blur', close);
}

// --- live updates: /ws/ticks ----------------------------------------------------------------------------------
// One WebSocket per page (same origin, the session cookie), subscribed to what the chart shows: the newest
// bar of that resolution, then every forming and closed bar, each handed to applyBar(). Reconnects with
// capped exponential backoff and resubscribes; pings keep the server's idle timeout away and detect a dead
// connection. The protocol is docs/websockets.md.

const LIVE_PATH = '/ws/ticks';
const LIVE_RETRY_MIN_MS = 1000;
const LIVE_RETRY_MAX_MS = 30000;
const LIVE_PING_MS = 25000; // well inside the server's idle timeout (WS_IDLE_TIMEOUT_SECONDS, 120 s)
const LIVE_PONG_TIMEOUT_MS = 10000; // no pong by then: the connection is dead even if the socket says open
const LIVE_QUIET_MS = 3000; // a first connection slower than this is reported in the status line

const live = {
  socket: null,
  state: 'idle', // idle | connecting | live | retrying
  attempt: 0, // failed connections in a row (the backoff exponent)
  want: null, // {symbol, resolution, id}: what the chart shows
  active: null, // {symbol, resolution, id}: what the socket is subscribed to (symbol as the server spells it)
  nextId: 1,
  retryTimer: null,
  pingTimer: null,
  pongTimer: null,
  quietTimer: null,
  updates: 0,
};

function publishLive() {
  window.tradevizLive = Object.freeze({
    state: live.state, updates: live.updates,
    symbol: live.active ? live.active.symbol : '', resolution: live.active ? live.active.resolution : '',
  });
}

function setLiveStatus(text, kind = 'info') {
  statusLine.live = { text, kind };
  renderStatus();
}

function setLiveState(liveState, text = '', kind = 'info') {
  live.state = liveState;
  elements.status.dataset.live = liveState;
  setLiveStatus(text, kind);
  publishLive();
}

function liveSend(message) {
  if (live.socket && live.socket.readyState === WebSocket.OPEN) live.socket.send(JSON.stringify(message));
}

// Follow `symbol` at `resolution` (null: nothing) from now on; (re)subscribes when connected.
function followLive(symbol, resolution) {
  if (live.active) {
    liveSend({ action: 'unsubscribe', symbol: live.active.symbol, resolution: live.active.resolution });
    live.active = null;
  }
  live.want = symbol ? { symbol, resolution, id: live.nextId++ } : null;
  if (live.state === 'live') setLiveStatus('');
  subscribeLive();
  publishLive();
}

// After a reconnection: the bars completed while the socket was down come from history (the subscription's
// snapshot only brings the newest one), then the subscription resumes.
async function catchUpLive() {
  const { want } = live;
  const last = state.bars[state.bars.length - 1];
  if (want && last && state.controller) {
    const generation = state.generation;
    try {
      const reply = await fetchBars(want.symbol, want.resolution, Math.floor(Date.now() / 1000) + 1,
        state.controller.signal);
      if (generation === state.generation && live.want === want && reply.s !== 'no_data') {
        for (const bar of barsFromReply(reply)) if (bar.time >= last.time) applyBar(bar);
      }
    } catch (error) {
      // Not fatal: the live bars still come; the gap fills at the next load.
      if (!isAbort(error)) console.warn('live: catching up from history failed', error);
    }
  }
  subscribeLive();
}

function subscribeLive() {
  if (!live.want || live.state !== 'live') return;
  const { symbol, resolution, id } = live.want;
  liveSend({ action: 'subscribe', symbol, resolution, id });
}

function onLiveMessage(socket, event) {
  if (socket !== live.socket) return;
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  const { want } = live;
  switch (message.type) {
    case 'subscribed':
      if (want && message.id === want.id) {
        live.active = { symbol: message.symbol, resolution: want.resolution, id: want.id };
        publishLive();
      }
      break;
    case 'bar':
      if (live.active && want && live.active.id === want.id && message.symbol === live.active.symbol
          && message.resolution === live.active.resolution.toUpperCase() && message.bar) {
        if (applyBar(message.bar)) live.updates += 1;
        publishLive();
      }
      break;
    case 'pong':
      clearTimeout(live.pongTimer);
      live.pongTimer = null;
      break;
    case 'error':
      if (want && message.id === want.id) setLiveStatus(`Live updates unavailable: ${message.detail}`, 'error');
      break;
    default: // ltp and unsubscribed: the bar carries the last price already
  }
}

function stopLiveTimers() {
  clearInterval(live.pingTimer);
  clearTimeout(live.pongTimer);
  clearTimeout(live.quietTimer);
  live.pingTimer = null;
  live.pongTimer = null;
  live.quietTimer = null;
}

function connectLive() {
  live.retryTimer = null;
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(`${scheme}//${window.location.host}${LIVE_PATH}`);
  live.socket = socket;
  live.active = null;
  // Connecting is not news unless it takes a while (or it is a reconnection, already reported).
  setLiveState('connecting', statusLine.live.text, statusLine.live.kind);
  live.quietTimer = setTimeout(() => {
    if (live.socket === socket && live.state === 'connecting') setLiveStatus('Connecting to live updates…', 'busy');
  }, LIVE_QUIET_MS);
  socket.addEventListener('open', () => {
    if (socket !== live.socket) return;
    stopLiveTimers();
    const reconnected = live.attempt > 0;
    live.attempt = 0;
    setLiveState('live');
    if (reconnected) catchUpLive();
    else subscribeLive();
    live.pingTimer = setInterval(() => {
      liveSend({ action: 'ping' });
      if (!live.pongTimer) live.pongTimer = setTimeout(() => socket.close(), LIVE_PONG_TIMEOUT_MS);
    }, LIVE_PING_MS);
  });
  socket.addEventListener('message', (event) => onLiveMessage(socket, event));
  // An error is always followed by close, which decides what to do.
  socket.addEventListener('close', () => {
    if (socket !== live.socket) return;
    stopLiveTimers();
    live.socket = null;
    live.active = null;
    const delay = Math.min(LIVE_RETRY_MAX_MS, LIVE_RETRY_MIN_MS * 2 ** live.attempt);
    live.attempt += 1;
    // Jitter, so that a restarted server is not hit by every page at the same instant.
    const wait = Math.round(delay * (0.5 + Math.random() / 2));
    setLiveState('retrying', `Live updates interrupted; reconnecting in ${Math.ceil(wait / 1000)} s…`, 'error');
    live.retryTimer = setTimeout(connectLive, wait);
  });
}

// --- start ---------------------------------------------------------------------------------------------------

setupSearch();
connectLive();
const params = new URLSearchParams(window.location.search);
const requestedResolution = (params.get('resolution') || '').toUpperCase();
showSeries(
  (params.get('symbol') || '').trim() || root.dataset.defaultSymbol,
  RESOLUTIONS.includes(requestedResolution) ? requestedResolution : DEFAULT_RESOLUTION,
);
