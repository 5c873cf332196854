// The index monitor: spot, futures ladder and ATM ± N strikes of the nearest expiries, from
// /api/v1/fo/monitor, then live over /ws/nifty-monitor.

import { ApiError, DASH, StreamClient, cell, getJson, istTime, num, pct, setText, signed } from './common.js';

const root = document.getElementById('monitor-app');
const api = root.dataset.apiUrl;
const elements = {
  underlying: document.getElementById('mon-underlying'),
  expiries: document.getElementById('mon-expiries'),
  levels: document.getElementById('mon-levels'),
  live: document.getElementById('mon-live'),
  status: document.getElementById('mon-status'),
  futures: document.querySelector('#mon-futures tbody'),
  panels: document.getElementById('mon-expiries-list'),
};

const state = {
  underlying: root.dataset.underlying,
  expiries: Number(elements.expiries.value),
  levels: Number(elements.levels.value),
  generation: 0,
};

function status(text, isError = false) {
  elements.status.textContent = text;
  elements.status.classList.toggle('error', isError);
}

function renderSpot(spot, asOf) {
  setText('mon-spot-title', spot?.tradingsymbol || state.underlying);
  setText('mon-spot-ltp', num(spot?.ltp));
  const change = document.getElementById('mon-spot-change');
  change.textContent = spot && spot.change !== null ? `${signed(spot.change)} (${signed(spot.change_pct)}%)` : '';
  change.classList.toggle('up', Boolean(spot && spot.change > 0));
  change.classList.toggle('down', Boolean(spot && spot.change < 0));
  setText('mon-spot-prev', num(spot?.prev_close));
  setText('mon-as-of', istTime(asOf));
}

function renderFutures(futures) {
  const rows = futures.map((f) => {
    const tr = document.createElement('tr');
    tr.append(
      cell('td', f.tradingsymbol),
      cell('td', `${f.expiry} (${f.days_to_expiry}d)`),
      cell('td', num(f.ltp), 'num'),
      cell('td', signed(f.basis), 'num'),
      cell('td', f.basis_pct === null ? DASH : `${signed(f.basis_pct, 3)}%`, 'num'),
      cell('td', num(f.oi, 0), 'num'),
    );
    return tr;
  });
  if (!rows.length) rows.push(Object.assign(document.createElement('tr'), { innerHTML: '<td colspan="6">No futures listed.</td>' }));
  elements.futures.replaceChildren(...rows);
}

// Both sides read outward from the strike: LTP next to it, OI change at the edges.
function sideCells(side, itm, kind) {
  const fields = side ? [num(side.ltp), pct(side.iv), num(side.oi, 0), signed(side.oi_change, 0)] : [DASH, DASH, DASH, DASH];
  const cells = fields.map((text) => cell('td', text, `num ${kind}${itm ? ' itm' : ''}`));
  return kind === 'ce' ? cells.reverse() : cells;
}

function renderPanel(expiry, spot) {
  const section = document.createElement('section');
  section.className = 'card mon-panel';
  section.dataset.expiry = expiry.expiry;
  const title = cell('h2', `${expiry.expiry} · ${expiry.label} · ${expiry.days_to_expiry}d`);
  const facts = cell(
    'p',
    `ATM ${num(expiry.atm_strike, 0)} · ATM IV ${pct(expiry.atm_iv)} · PCR ${num(expiry.pcr_oi)} · max pain ${num(expiry.max_pain, 0)}`
      + ` · straddle ${num(expiry.straddle)} · forward ${num(expiry.forward)} (${expiry.forward_source})`,
    'mon-facts',
  );
  const table = document.createElement('table');
  table.className = 'grid mon-table';
  table.innerHTML = '<thead><tr><th class="num">Chg</th><th class="num">CE OI</th><th class="num">CE IV</th><th class="num">CE LTP</th>'
    + '<th class="strike">Strike</th><th class="num">PE LTP</th><th class="num">PE IV</th><th class="num">PE OI</th><th class="num">Chg</th></tr></thead>';
  const body = document.createElement('tbody');
  const reference = spot ?? expiry.forward;
  for (const row of expiry.rows) {
    const tr = document.createElement('tr');
    if (row.strike === expiry.atm_strike) tr.classList.add('atm');
    tr.dataset.strike = String(row.strike);
    tr.append(
      ...sideCells(row.ce, reference !== null && row.strike < reference, 'ce'),
      cell('td', num(row.strike, 0), 'strike'),
      ...sideCells(row.pe, reference !== null && row.strike > reference, 'pe'),
    );
    body.append(tr);
  }
  table.append(body);
  section.append(title, facts, table);
  return section;
}

function render(monitor) {
  renderSpot(monitor.spot, monitor.as_of);
  renderFutures(monitor.futures);
  const spot = monitor.spot ? monitor.spot.ltp : null;
  elements.panels.replaceChildren(...monitor.expiries.map((e) => renderPanel(e, spot)));
}

const stream = new StreamClient(root.dataset.wsPath, {
  onMessage(message) {
    if (message.type === 'monitor' && message.underlying === state.underlying) render(message.monitor);
    else if (message.type === 'error') status(message.detail, true);
  },
  onState(value) {
    elements.live.textContent = value === 'live' ? '● live' : 'reconnecting…';
    elements.live.classList.toggle('on', value === 'live');
  },
});

async function load() {
  state.generation += 1;
  const generation = state.generation;
  status('Loading…');
  try {
    const monitor = await getJson(`${api}/monitor`, { underlying: state.underlying, expiries: state.expiries, otm_levels: state.levels });
    if (generation !== state.generation) return;
    render(monitor);
    status('');
    stream.unsubscribe('monitor');
    stream.subscribe('monitor', { underlying: state.underlying, expiries: state.expiries, otm_levels: state.levels });
  } catch (error) {
    if (generation !== state.generation) return;
    status(error instanceof ApiError ? error.message : `Could not load the monitor: ${error.message}`, true);
  }
}

elements.underlying.addEventListener('change', () => {
  state.underlying = elements.underlying.value.trim().toUpperCase();
  elements.underlying.value = state.underlying;
  load();
});
elements.expiries.addEventListener('change', () => { state.expiries = Number(elements.expiries.value); load(); });
elements.levels.addEventListener('change', () => { state.levels = Number(elements.levels.value); load(); });

load();
