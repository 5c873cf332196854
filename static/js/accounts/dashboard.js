// The accounts page: positions re-read every few seconds for live P&L, orders updated live from
// /ws/orders (a snapshot on subscribe, then every change the order stream delivers).
import { api, formatClock, formatDateTime, formatMoney, liveSocket, signClass } from '../strategies/common.js';

const root = document.getElementById('account-app');
const accountId = Number(root.dataset.accountId);
const refreshMs = Number(root.dataset.refreshMs);
const base = `/api/v1/accounts/${accountId}`;
const ORDERS_SHOWN = 100;

const cell = (text, className = '') => {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
};
const moneyCell = (value) => cell(formatMoney(value), `num ${signClass(value)}`.trim());

async function refreshPositions() {
  const positions = await api(`${base}/positions/`);
  const body = document.querySelector('#positions-table tbody');
  body.replaceChildren(...positions.map((p) => {
    const row = document.createElement('tr');
    row.dataset.positionId = p.id;
    row.append(cell(p.tradingsymbol), cell(p.product), cell(String(p.quantity), 'num'), cell(formatMoney(p.average_price), 'num'),
      cell(formatMoney(p.last_price), `num${p.live ? '' : ' stale'}`), moneyCell(p.realised_pnl), moneyCell(p.unrealised_pnl),
      moneyCell(p.total_pnl));
    return row;
  }));
  const total = positions.reduce((sum, p) => sum + p.total_pnl, 0);
  const totalCell = document.getElementById('positions-total');
  totalCell.textContent = formatMoney(total);
  totalCell.className = `num ${signClass(total)}`;
  document.getElementById('positions-updated').textContent = `· ${formatClock(new Date().toISOString())} IST`;
}

const orders = new Map(); // id → order, newest first when drawn

function orderRow(o) {
  const row = document.createElement('tr');
  row.dataset.orderId = o.id;
  row.append(cell(formatDateTime(o.placed_at)), cell(o.broker_order_id), cell(o.tradingsymbol), cell(o.side),
    cell(String(o.quantity), 'num'), cell(String(o.filled_quantity), 'num'), cell(formatMoney(o.price), 'num'),
    cell(formatMoney(o.average_price), 'num'), cell(o.status.replace('_', ' '), `status ${o.status}`),
    cell(formatClock(o.exchange_updated_at)));
  return row;
}

function drawOrders(flashId = null) {
  const sorted = [...orders.values()].sort((a, b) => (b.placed_at > a.placed_at ? 1 : b.placed_at < a.placed_at ? -1 : b.id - a.id));
  const body = document.querySelector('#orders-table tbody');
  body.replaceChildren(...sorted.slice(0, ORDERS_SHOWN).map((o) => {
    const row = orderRow(o);
    if (o.id === flashId) row.classList.add('flash');
    return row;
  }));
}

// Keep the newest state of each order: the HTTP list, the snapshot and live pushes may overlap.
function merge(order) {
  const previous = orders.get(order.id);
  if (previous && previous.exchange_updated_at > order.exchange_updated_at) return false;
  orders.set(order.id, order);
  return true;
}

async function loadOrders() {
  const page = await api(`${base}/orders/?limit=${ORDERS_SHOWN}`);
  page.results.forEach(merge);
  drawOrders();
}

function onMessage(message) {
  if (message.type === 'snapshot') {
    message.orders.forEach(merge);
    drawOrders();
  } else if (message.type === 'order' && message.order.account === accountId) {
    if (merge(message.order)) drawOrders(message.order.id);
  } else if (message.type === 'position' && message.position.account === accountId) {
    refreshPositions().catch(() => {});
  }
}

async function loadOnce() {
  const [holdings, funds] = await Promise.all([api(`${base}/holdings/`), api(`${base}/funds/?limit=1`)]);
  document.querySelector('#holdings-table tbody').replaceChildren(...holdings.map((h) => {
    const row = document.createElement('tr');
    row.append(cell(h.tradingsymbol), cell(String(h.quantity), 'num'), cell(formatMoney(h.average_price), 'num'),
      cell(formatMoney(h.last_price), 'num'), moneyCell(h.pnl));
    return row;
  }));
  const dl = document.getElementById('funds');
  const latest = funds.latest;
  dl.replaceChildren();
  if (!latest) {
    dl.textContent = 'No funds snapshot yet.';
    return;
  }
  for (const [label, key] of [['Available cash', 'available_cash'], ['Used margin', 'used_margin'],
    ['Available margin', 'available_margin'], ['Opening balance', 'opening_balance']]) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = formatMoney(latest[key]);
    dl.append(dt, dd);
  }
}

const liveState = document.getElementById('live-state');
refreshPositions().catch(() => {});
setInterval(() => refreshPositions().catch(() => {}), refreshMs);
loadOnce().catch(() => {});
loadOrders().catch(() => {});
liveSocket('orders', [{ action: 'subscribe', account: accountId }], {
  onMessage,
  onState: (s) => { liveState.textContent = s === 'live' ? 'live' : 'reconnecting…'; liveState.className = `live-state ${s}`; },
});
