// A strategy's page: its M2M candles (history from /m2m, then live from /ws/strategies) and its payoff
// (at expiry and today) on a price axis.
import { ApiError, api, formatChartTime, formatMoney, liveSocket, LOCALE, signClass } from './common.js';

const { createChart, createOptionsChart, CandlestickSeries, LineSeries, ColorType, CrosshairMode } =
  window.LightweightCharts;

const HISTORY_SECONDS = 2 * 86_400;
const root = document.getElementById('strategy-app');
const strategyId = Number(root.dataset.strategyId);
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const colors = { up: css('--up'), down: css('--down'), bg: css('--panel'), line: css('--line'),
                 muted: css('--muted'), accent: css('--accent'), warn: css('--warn') };
const layout = {
  background: { type: ColorType.Solid, color: colors.bg }, textColor: colors.muted,
  fontFamily: getComputedStyle(document.body).fontFamily, attributionLogo: true,
};
const grid = { vertLines: { color: colors.line }, horzLines: { color: colors.line } };

function setStat(id, value) {
  const element = document.getElementById(id);
  element.textContent = formatMoney(Number(value));
  element.className = `value ${signClass(Number(value))}`;
}
for (const id of ['stat-m2m', 'stat-realised', 'stat-unrealised']) {
  setStat(id, document.getElementById(id).dataset.value);
}
for (const cell of document.querySelectorAll('#legs-table td.money')) {
  cell.textContent = formatMoney(Number(cell.dataset.value));
  cell.classList.add(...[signClass(Number(cell.dataset.value))].filter(Boolean));
}

// --- M2M candles ------------------------------------------------------------------------------------

const m2mBox = document.getElementById('m2m-chart');
const m2mChart = createChart(m2mBox, {
  autoSize: true, layout, grid, crosshair: { mode: CrosshairMode.Normal },
  rightPriceScale: { borderColor: colors.line },
  timeScale: { borderColor: colors.line, timeVisible: true, secondsVisible: false,
               tickMarkFormatter: (time) => formatChartTime(time).split(', ').pop() },
  localization: { locale: LOCALE, timeFormatter: formatChartTime, priceFormatter: (v) => formatMoney(v) },
});
const candles = m2mChart.addSeries(CandlestickSeries, {
  upColor: colors.up, downColor: colors.down, wickUpColor: colors.up, wickDownColor: colors.down, borderVisible: false,
});
const known = new Map(); // time → candle, so a rerun of a minute replaces it

function showCount() {
  m2mBox.dataset.candles = String(known.size);
  document.getElementById('m2m-empty').hidden = known.size > 0;
  const last = [...known.values()].at(-1);
  document.getElementById('m2m-status').textContent = last
    ? `${known.size} candle${known.size === 1 ? '' : 's'} · last ${formatChartTime(last.time)} IST: ${formatMoney(last.close)}`
    : '';
}

async function loadHistory() {
  const to = Math.floor(Date.now() / 1000) + 60;
  const body = await api(`/api/v1/strategies/${strategyId}/m2m?from=${to - HISTORY_SECONDS}&to=${to}&resolution=1`);
  if (body.s === 'ok') {
    body.t.forEach((time, k) => known.set(time, { time, open: body.o[k], high: body.h[k], low: body.l[k], close: body.c[k] }));
    candles.setData([...known.values()]);
    m2mChart.timeScale().fitContent();
  }
  showCount();
}

function applyUpdate(message) {
  if (message.type !== 'm2m' || message.strategy !== strategyId) return;
  const candle = { time: message.time, open: message.open, high: message.high, low: message.low, close: message.close };
  const newest = Math.max(0, ...known.keys());
  known.set(candle.time, candle);
  if (candle.time >= newest) candles.update(candle);
  else candles.setData([...known.values()].sort((a, b) => a.time - b.time));
  setStat('stat-m2m', message.m2m);
  setStat('stat-realised', message.realised);
  setStat('stat-unrealised', message.unrealised);
  document.getElementById('stat-stale').textContent = String(message.stale_legs);
  showCount();
}

// --- payoff -----------------------------------------------------------------------------------------

async function loadPayoff() {
  const empty = document.getElementById('payoff-empty');
  const summary = document.getElementById('payoff-summary');
  let body;
  try {
    body = await api(`/api/v1/strategies/${strategyId}/payoff`);
  } catch (error) {
    empty.textContent = error instanceof ApiError ? error.message : 'Payoff unavailable.';
    return;
  }
  if (!body.underlying) {
    empty.textContent = 'No open legs.';
    return;
  }
  const chart = createOptionsChart(document.getElementById('payoff-chart'), {
    autoSize: true, layout, grid, crosshair: { mode: CrosshairMode.Normal },
    rightPriceScale: { borderColor: colors.line }, timeScale: { borderColor: colors.line },
    localization: { locale: LOCALE, priceFormatter: (v) => formatMoney(v) },
  });
  const expiry = chart.addSeries(LineSeries, { color: colors.accent, lineWidth: 2, title: 'at expiry' });
  const today = chart.addSeries(LineSeries, { color: colors.warn, lineWidth: 1, title: 'today (T+0)' });
  expiry.setData(body.prices.map((price, k) => ({ time: price, value: body.expiry_pnl[k] })));
  today.setData(body.prices.map((price, k) => ({ time: price, value: body.t0_pnl[k] })));
  chart.timeScale().fitContent();
  empty.hidden = true;
  const extreme = (value, unbounded) => (unbounded ? 'unlimited' : formatMoney(value));
  const g = body.greeks;
  summary.textContent = [
    `${body.underlying} spot ${formatMoney(body.spot)}${body.expiry ? ` · expiry ${body.expiry}` : ''}`,
    `breakevens ${body.breakevens.length ? body.breakevens.map(formatMoney).join(', ') : 'none in range'}`,
    `max profit ${extreme(body.max_profit, body.max_profit_unbounded)} · max loss ${extreme(body.max_loss, body.max_loss_unbounded)}`,
    `Δ ${g.delta.toFixed(2)} · Γ ${g.gamma.toFixed(4)} · Θ/day ${formatMoney(g.theta)} · vega ${formatMoney(g.vega)}`,
  ].join(' · ');
  summary.dataset.breakevens = JSON.stringify(body.breakevens);
}

// --- start ------------------------------------------------------------------------------------------

const liveState = document.getElementById('live-state');
loadHistory().catch((error) => { document.getElementById('m2m-status').textContent = String(error.message || error); });
loadPayoff();
if (root.dataset.status === 'CLOSED') {
  liveState.textContent = 'closed';
} else {
  liveSocket('strategies', [{ action: 'subscribe', strategy: strategyId }], {
    onMessage: applyUpdate,
    onState: (s) => { liveState.textContent = s === 'live' ? 'live' : 'reconnecting…'; liveState.className = `live-state ${s}`; },
  });
}
