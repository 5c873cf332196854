// The strategies list: M2M and sparklines updated live from /ws/strategies.
import { formatDateTime, formatMoney, liveSocket, signClass } from './common.js';

const SPARK_POINTS = 60;
const rows = new Map(
  [...document.querySelectorAll('#strategies-table tbody tr')].map((row) => [Number(row.dataset.strategyId), row]),
);
const state = document.getElementById('live-state');

function setMoney(cell, value) {
  cell.dataset.value = value;
  cell.textContent = formatMoney(Number(value));
  cell.className = `num ${cell.classList.contains('m2m') ? 'm2m' : 'realised'} ${signClass(Number(value))}`;
}

function drawSpark(svg, values) {
  const width = Number(svg.getAttribute('width'));
  const height = Number(svg.getAttribute('height'));
  const lo = Math.min(...values);
  const span = Math.max(...values) - lo || 1;
  const step = width / Math.max(values.length - 1, 1);
  svg.querySelector('polyline').setAttribute(
    'points', values.map((v, k) => `${(k * step).toFixed(1)},${(height - ((v - lo) / span) * height).toFixed(1)}`).join(' '),
  );
  svg.classList.toggle('up', values[values.length - 1] >= values[0]);
  svg.classList.toggle('down', values[values.length - 1] < values[0]);
  svg.dataset.values = JSON.stringify(values);
}

for (const row of rows.values()) {
  for (const cell of row.querySelectorAll('td.m2m, td.realised')) setMoney(cell, cell.dataset.value);
  const updated = row.querySelector('td.updated');
  updated.insertAdjacentText('afterbegin', `${formatDateTime(updated.dataset.value || null)} `);
}

function onMessage(message) {
  if (message.type !== 'm2m') return;
  const row = rows.get(message.strategy);
  if (!row) return;
  setMoney(row.querySelector('td.m2m'), message.m2m);
  setMoney(row.querySelector('td.realised'), message.realised);
  const svg = row.querySelector('svg.spark');
  const values = JSON.parse(svg.dataset.values || '[]');
  values.push(message.close);
  drawSpark(svg, values.slice(-SPARK_POINTS));
  const updated = row.querySelector('td.updated');
  updated.textContent = `${formatDateTime(new Date(message.time * 1000 + 60_000).toISOString())} `;
  if (message.stale_legs) updated.insertAdjacentHTML('beforeend', `<span class="stale">${message.stale_legs} stale</span>`);
  row.classList.remove('flash');
  void row.offsetWidth; // restart the highlight animation
  row.classList.add('flash');
}

if (rows.size) {
  liveSocket('strategies', [{ action: 'subscribe' }], {
    onMessage,
    onState: (s) => { state.textContent = s === 'live' ? 'live' : 'reconnecting…'; state.className = `live-state ${s}`; },
  });
} else {
  state.textContent = '';
}
