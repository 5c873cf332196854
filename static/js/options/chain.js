// The option chain dashboard. The chain comes from /api/v1/fo/option-chain (live) and then stays live
// over /ws/fo/stream (forming-minute and closed-minute chains, plus a metrics point per closed minute).
// The charts read the stored per-minute analytics: expiry-metrics (PCR, max pain), strike-series (OI of
// the strikes around ATM) and straddle.

import {
  ApiError, DASH, IST_CHART_OPTIONS, StreamClient, cell, chartTheme, getJson, istTime, num, pct, setText, signed,
} from './common.js';

const { createChart, LineSeries } = window.LightweightCharts;

const root = document.getElementById('chain-app');
const api = root.dataset.apiUrl;
const elements = {
  underlying: document.getElementById('fo-underlying'),
  expiry: document.getElementById('fo-expiry'),
  strikes: document.getElementById('fo-strikes'),
  greeks: document.getElementById('fo-greeks'),
  lots: document.getElementById('fo-lots'),
  live: document.getElementById('fo-live'),
  status: document.getElementById('fo-status'),
  rows: document.getElementById('fo-rows'),
  table: document.getElementById('fo-chain'),
};
const OI_CHART_STRIKES_EACH_SIDE = 2;

const state = {
  underlying: root.dataset.underlying,
  expiry: root.dataset.expiry,
  strikes: Number(elements.strikes.value),
  chain: null, // the last chain body shown
  expiries: [],
  generation: 0,
};

function status(text, isError = false) {
  elements.status.textContent = text;
  elements.status.classList.toggle('error', isError);
}

// --- the table -------------------------------------------------------------------------------------

const SIDE_COLUMNS = {
  ce: ['oi', 'oi_change', 'volume', 'iv', 'delta', 'gamma', 'theta', 'vega', 'bid', 'ask', 'ltp'],
  pe: ['ltp', 'bid', 'ask', 'delta', 'gamma', 'theta', 'vega', 'iv', 'volume', 'oi_change', 'oi'],
};
const GREEKS = new Set(['delta', 'gamma', 'theta', 'vega']);
const DIGITS = { delta: 3, gamma: 5, theta: 2, vega: 2, bid: 2, ask: 2, ltp: 2 };

function lots(value, lotSize) {
  if (value === null || value === undefined) return null;
  return elements.lots.checked ? value / lotSize : value;
}

function sideCell(side, field, maxima, lotSize) {
  const td = document.createElement('td');
  td.className = `num ${GREEKS.has(field) ? 'greek' : ''}`;
  if (!side) {
    td.textContent = DASH;
    return td;
  }
  const value = side[field];
  if (field === 'iv') {
    td.textContent = value === null ? DASH : pct(value, 2);
    if (value === null && side.iv_reason) td.title = `IV not computed: ${side.iv_reason.replaceAll('_', ' ')}`;
  } else if (field === 'oi' || field === 'volume') {
    const shown = lots(value, lotSize);
    td.textContent = num(shown, elements.lots.checked ? 1 : 0);
    if (field === 'oi' && value !== null && maxima.oi > 0) {
      td.classList.add('bar');
      td.style.setProperty('--w', `${(100 * value) / maxima.oi}%`);
    }
  } else if (field === 'oi_change') {
    td.textContent = value === null ? DASH : signed(lots(value, lotSize), elements.lots.checked ? 1 : 0);
    if (value !== null && maxima.change > 0) {
      td.classList.add('bar', value >= 0 ? 'up' : 'down');
      td.style.setProperty('--w', `${(100 * Math.abs(value)) / maxima.change}%`);
    }
  } else {
    td.textContent = num(value, DIGITS[field] ?? 2);
    if (field === 'ltp' && side.price_source === 'mid') td.title = `IV from the bid/ask mid ${num(side.price)}`;
  }
  return td;
}

function renderTable(chain) {
  const reference = chain.spot ?? chain.forward;
  const maxima = { oi: 0, change: 0 };
  for (const row of chain.rows) {
    for (const side of [row.ce, row.pe]) {
      if (!side) continue;
      maxima.oi = Math.max(maxima.oi, side.oi ?? 0);
      maxima.change = Math.max(maxima.change, Math.abs(side.oi_change ?? 0));
    }
  }
  const fragment = document.createDocumentFragment();
  for (const row of chain.rows) {
    const tr = document.createElement('tr');
    tr.dataset.strike = String(row.strike);
    if (row.strike === chain.atm_strike) tr.classList.add('atm');
    const ceItm = reference !== null && row.strike < reference;
    const peItm = reference !== null && row.strike > reference;
    for (const field of SIDE_COLUMNS.ce) {
      const td = sideCell(row.ce, field, maxima, chain.lot_size);
      td.classList.add('ce', `ce-${field.replace('_', '-')}`);
      if (ceItm) td.classList.add('itm');
      tr.append(td);
    }
    tr.append(cell('td', num(row.strike, row.strike % 1 ? 2 : 0), 'strike'));
    for (const field of SIDE_COLUMNS.pe) {
      const td = sideCell(row.pe, field, maxima, chain.lot_size);
      td.classList.add('pe', `pe-${field.replace('_', '-')}`);
      if (peItm) td.classList.add('itm');
      tr.append(td);
    }
    fragment.append(tr);
  }
  elements.rows.replaceChildren(fragment);
}

function renderSummary(chain) {
  const change = chain.spot !== null && chain.spot_prev_close !== null ? chain.spot - chain.spot_prev_close : null;
  setText('sum-spot', chain.spot === null ? DASH : `${num(chain.spot)} (${signed(change)})`);
  const source = { futures: 'futures', synthetic: 'synthetic', spot: 'spot · Black-Scholes', none: 'none' }[chain.forward_source];
  setText('sum-forward', chain.forward === null ? DASH : `${num(chain.forward)} (${source})`);
  setText('sum-atm', num(chain.atm_strike, 0));
  setText('sum-atm-iv', pct(chain.atm_iv));
  setText('sum-pcr', num(chain.pcr_oi, 2));
  setText('sum-pcr-volume', num(chain.pcr_volume, 2));
  setText('sum-max-pain', num(chain.max_pain, 0));
  setText('sum-sr', `${num(chain.support, 0)} / ${num(chain.resistance, 0)}`);
  const perLot = chain.straddle === null ? null : chain.straddle * chain.lot_size;
  setText('sum-straddle', chain.straddle === null ? DASH : `${num(chain.straddle)} (₹${num(perLot, 0)} / lot)`);
  // On the 252 basis this counts trading days.
  setText('sum-dte', num(chain.t_years * chain.day_count_basis, 2));
  setText('sum-lot', String(chain.lot_size));
  setText('sum-as-of', `${istTime(chain.as_of)}${chain.live ? '' : ' (closed minute)'}`);
}

function render(chain) {
  state.chain = chain;
  renderSummary(chain);
  renderTable(chain);
  root.classList.toggle('show-greeks', elements.greeks.checked);
}

// --- charts ----------------------------------------------------------------------------------------

const theme = chartTheme();
const PALETTE = [theme.accent, '#ab47bc', theme.warn, '#26c6da', '#8d6e63', '#ec407a'];

function makeChart(id, options = {}) {
  const container = document.getElementById(id);
  return createChart(container, {
    autoSize: true,
    layout: theme.layout,
    grid: theme.grid,
    rightPriceScale: { borderColor: theme.grid.horzLines.color },
    leftPriceScale: { borderColor: theme.grid.horzLines.color, visible: Boolean(options.left) },
    ...IST_CHART_OPTIONS,
    timeScale: { ...IST_CHART_OPTIONS.timeScale, borderColor: theme.grid.horzLines.color },
  });
}

const charts = {
  pcr: makeChart('chart-pcr', { left: true }),
  oi: makeChart('chart-oi'),
  straddle: makeChart('chart-straddle'),
};
const pcrSeries = {
  pcr: charts.pcr.addSeries(LineSeries, { color: theme.accent, priceScaleId: 'left', title: 'PCR (OI)', lineWidth: 2 }),
  maxPain: charts.pcr.addSeries(LineSeries, { color: theme.warn, title: 'Max pain', lineWidth: 2 }),
  spot: charts.pcr.addSeries(LineSeries, { color: theme.text, title: 'Spot', lineWidth: 1 }),
};
const straddleSeries = charts.straddle.addSeries(LineSeries, { color: theme.up, title: 'Straddle', lineWidth: 2 });
let oiSeries = [];

function points(times, values) {
  const data = [];
  for (let i = 0; i < times.length; i += 1) {
    if (values[i] !== null && values[i] !== undefined) data.push({ time: times[i], value: values[i] });
  }
  return data;
}

function note(id, text) {
  setText(id, text);
}

async function loadCharts(generation) {
  const params = { underlying: state.underlying, expiry: state.expiry };
  try {
    const metrics = await getJson(`${api}/expiry-metrics`, params);
    if (generation !== state.generation) return;
    pcrSeries.pcr.setData(points(metrics.t, metrics.pcr_oi));
    pcrSeries.maxPain.setData(points(metrics.t, metrics.max_pain));
    pcrSeries.spot.setData(points(metrics.t, metrics.spot));
    charts.pcr.timeScale().fitContent();
    note('chart-pcr-note', metrics.t.length ? `${metrics.t.length} minutes` : 'No stored analytics for this expiry yet.');

    const straddle = await getJson(`${api}/straddle`, params);
    if (generation !== state.generation) return;
    straddleSeries.setData(points(straddle.t, straddle.straddle));
    charts.straddle.timeScale().fitContent();
    note('chart-straddle-note', straddle.t.length ? 'Call + put premium at each minute’s ATM strike' : 'No stored analytics yet.');

    await loadOiChart(generation);
  } catch (error) {
    if (generation === state.generation) note('chart-pcr-note', `Charts unavailable: ${error.message}`);
  }
}

async function loadOiChart(generation) {
  const chain = state.chain;
  if (!chain || chain.atm_strike === null) {
    note('chart-oi-note', 'No ATM strike yet.');
    return;
  }
  const strikes = chain.rows.map((r) => r.strike);
  const atmIndex = strikes.indexOf(chain.atm_strike);
  const around = strikes.slice(Math.max(0, atmIndex - OI_CHART_STRIKES_EACH_SIDE), atmIndex + OI_CHART_STRIKES_EACH_SIDE + 1);
  const series = await getJson(`${api}/strike-series`, {
    underlying: state.underlying, expiry: state.expiry, strikes: around.join(','), field: 'oi',
  });
  if (generation !== state.generation) return;
  for (const line of oiSeries) charts.oi.removeSeries(line);
  oiSeries = series.series.map((s, i) => {
    const colour = PALETTE[Math.floor(i / 2) % PALETTE.length];
    const line = charts.oi.addSeries(LineSeries, {
      color: colour, lineWidth: 2, lineStyle: s.side === 'pe' ? 2 : 0, title: `${num(s.strike, 0)} ${s.side.toUpperCase()}`,
    });
    line.setData(points(series.t, s.values));
    return line;
  });
  charts.oi.timeScale().fitContent();
  note('chart-oi-note', series.t.length ? 'Solid: calls · dashed: puts' : 'No stored analytics yet.');
}

function appendMetrics(metrics) {
  const update = (series, value) => {
    if (value !== null && value !== undefined) series.update({ time: metrics.t, value });
  };
  try {
    update(pcrSeries.pcr, metrics.pcr_oi);
    update(pcrSeries.maxPain, metrics.max_pain);
    update(pcrSeries.spot, metrics.spot);
    update(straddleSeries, metrics.straddle);
  } catch {
    // An update older than the series' last point (a replay): the next full load has it.
  }
}

// --- live ------------------------------------------------------------------------------------------

const stream = new StreamClient(root.dataset.wsPath, {
  onMessage(message) {
    if (message.type === 'chain') {
      if (message.underlying !== state.underlying || message.expiry !== state.expiry) return;
      render(message.chain);
    } else if (message.type === 'metrics') {
      if (message.underlying === state.underlying && message.expiry === state.expiry) appendMetrics(message.metrics);
    } else if (message.type === 'error') {
      status(message.detail, true);
    }
  },
  onState(value) {
    elements.live.textContent = value === 'live' ? '● live' : 'reconnecting…';
    elements.live.classList.toggle('on', value === 'live');
  },
});

function subscribe() {
  stream.unsubscribe('chain');
  stream.subscribe('chain', { underlying: state.underlying, expiry: state.expiry, strikes: state.strikes });
}

// --- loading ---------------------------------------------------------------------------------------

async function loadExpiries() {
  const expiries = await getJson(`${api}/expiries`, { underlying: state.underlying, limit: 12 });
  state.expiries = expiries;
  const options = expiries.map((e) => {
    const value = e.contract_expiry || e.expiry;
    const option = document.createElement('option');
    option.value = value;
    option.textContent = `${e.expiry} · ${e.label} · ${e.days_to_expiry}d`;
    option.dataset.label = e.label;
    return option;
  });
  elements.expiry.replaceChildren(...options);
  if (!expiries.some((e) => (e.contract_expiry || e.expiry) === state.expiry)) state.expiry = options[0]?.value || '';
  elements.expiry.value = state.expiry;
}

async function load({ expiries = false } = {}) {
  state.generation += 1;
  const generation = state.generation;
  status('Loading…');
  try {
    if (expiries) await loadExpiries();
    if (!state.expiry) {
      status(`No expiries listed for ${state.underlying}.`, true);
      return;
    }
    const chain = await getJson(`${api}/option-chain`, { underlying: state.underlying, expiry: state.expiry, strikes: state.strikes });
    if (generation !== state.generation) return;
    render(chain);
    status('');
    const url = new URL(window.location.href);
    url.searchParams.set('underlying', state.underlying);
    url.searchParams.set('expiry', state.expiry);
    window.history.replaceState(null, '', url);
    subscribe();
    loadCharts(generation);
  } catch (error) {
    if (generation !== state.generation) return;
    status(error instanceof ApiError ? error.message : `Could not load the chain: ${error.message}`, true);
  }
}

elements.underlying.addEventListener('change', () => {
  state.underlying = elements.underlying.value.trim().toUpperCase();
  elements.underlying.value = state.underlying;
  state.expiry = '';
  load({ expiries: true });
});
elements.expiry.addEventListener('change', () => {
  state.expiry = elements.expiry.value;
  load();
});
elements.strikes.addEventListener('change', () => {
  state.strikes = Number(elements.strikes.value);
  load();
});
elements.greeks.addEventListener('change', () => root.classList.toggle('show-greeks', elements.greeks.checked));
elements.lots.addEventListener('change', () => state.chain && renderTable(state.chain));

load({ expiries: true });
