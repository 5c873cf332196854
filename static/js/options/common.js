// Shared by the F&O dashboards: JSON requests with the session cookie, number and time formatting in
// the Indian convention (IST, lakh/crore grouping), and a reconnecting client of the /ws/ protocol.

const LOCALE = 'en-IN';
export const MARKET_TIME_ZONE = 'Asia/Kolkata';
// The server closes a connection that has sent nothing for WS_IDLE_TIMEOUT_SECONDS (120 s by default).
const PING_INTERVAL_MS = 30_000;
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export async function getJson(url, params = {}, { signal } = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, String(value));
  }
  const response = await fetch(`${url}?${query}`, { credentials: 'same-origin', headers: { Accept: 'application/json' }, signal });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
    throw new ApiError(message, response.status);
  }
  return body;
}

const numberFormats = new Map();
function numberFormat(digits) {
  let format = numberFormats.get(digits);
  if (!format) {
    format = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: digits, maximumFractionDigits: digits });
    numberFormats.set(digits, format);
  }
  return format;
}

export const DASH = '–';

export function num(value, digits = 2) {
  return value === null || value === undefined || !Number.isFinite(value) ? DASH : numberFormat(digits).format(value);
}

export function signed(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  const text = numberFormat(digits).format(value);
  return value > 0 ? `+${text}` : text;
}

export function pct(value, digits = 2) {
  return value === null || value === undefined ? DASH : `${num(value * 100, digits)}%`;
}

const timeFormat = new Intl.DateTimeFormat(LOCALE, {
  timeZone: MARKET_TIME_ZONE, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
export function istTime(iso) {
  return iso ? timeFormat.format(new Date(iso)) : DASH;
}

const tickFormat = new Intl.DateTimeFormat(LOCALE, { timeZone: MARKET_TIME_ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const crosshairFormat = new Intl.DateTimeFormat(LOCALE, {
  timeZone: MARKET_TIME_ZONE, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
// lightweight-charts works in UTC seconds; traders read IST.
export const IST_CHART_OPTIONS = {
  localization: { locale: LOCALE, timeFormatter: (time) => crosshairFormat.format(new Date(time * 1000)) },
  timeScale: { timeVisible: true, secondsVisible: false, tickMarkFormatter: (time) => tickFormat.format(new Date(time * 1000)) },
};

export function chartTheme() {
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  return {
    layout: { background: { type: 'solid', color: color('--panel') }, textColor: color('--muted') },
    grid: { vertLines: { color: color('--line') }, horzLines: { color: color('--line') } },
    up: color('--up'),
    down: color('--down'),
    accent: color('--accent'),
    warn: color('--warn'),
    text: color('--text'),
  };
}

// A /ws/ stream client: reconnects with backoff, re-sends its subscriptions, pings so the server's idle
// timeout never closes a page that is only listening. `onMessage` gets every parsed server message;
// `onState` gets "live", "reconnecting" or "offline".
export class StreamClient {
  constructor(path, { onMessage, onState }) {
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    this.url = `${scheme}://${window.location.host}${path}`;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.subscriptions = new Map();
    this.delay = RECONNECT_MIN_MS;
    this.socket = null;
    this.closed = false;
    this.connect();
  }

  connect() {
    if (this.closed) return;
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.delay = RECONNECT_MIN_MS;
      this.onState('live');
      for (const message of this.subscriptions.values()) socket.send(JSON.stringify(message));
      this.pinger = window.setInterval(() => this.send({ action: 'ping' }), PING_INTERVAL_MS);
    });
    socket.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onMessage(message);
    });
    socket.addEventListener('close', () => {
      window.clearInterval(this.pinger);
      if (this.socket === socket) this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    if (this.closed) return;
    this.onState('reconnecting');
    window.setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  subscribe(key, params) {
    const message = { action: 'subscribe', ...params };
    this.subscriptions.set(key, message);
    this.send(message);
  }

  unsubscribe(key) {
    const message = this.subscriptions.get(key);
    if (!message) return;
    this.subscriptions.delete(key);
    this.send({ ...message, action: 'unsubscribe' });
  }
}

export function setText(id, text) {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

export function cell(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}
