// Shared by the strategies and accounts pages: API calls with the session cookie, number and time
// formatting for the Indian market, and a self-healing WebSocket speaking the /ws/ protocol.

export const MARKET_TIME_ZONE = 'Asia/Kolkata';
export const LOCALE = 'en-IN';
const PING_EVERY_MS = 30_000; // well inside the server's idle timeout
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;

function cookie(name) {
  const match = document.cookie.split('; ').find((part) => part.startsWith(`${name}=`));
  return match ? decodeURIComponent(match.slice(name.length + 1)) : '';
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.details = body?.error?.details ?? null;
  }
}

// JSON in, JSON out; errors in the API's one error shape become ApiError.
export async function api(url, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRFToken'] = cookie('csrftoken');
  const response = await fetch(url, {
    method, headers, signal, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const money = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
export const formatMoney = (value) => (value === null || value === undefined ? '–' : money.format(value));
export const signClass = (value) => (value > 0 ? 'ok' : value < 0 ? 'fail' : '');

const dateTime = new Intl.DateTimeFormat(LOCALE, {
  timeZone: MARKET_TIME_ZONE, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
const clock = new Intl.DateTimeFormat(LOCALE, {
  timeZone: MARKET_TIME_ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
export const formatDateTime = (iso) => (iso ? dateTime.format(new Date(iso)) : '–');
export const formatClock = (iso) => (iso ? clock.format(new Date(iso)) : '–');
// lightweight-charts gives UTC seconds; we show IST.
export const formatChartTime = (seconds) => dateTime.format(new Date(seconds * 1000));

// A WebSocket to /ws/<route> that (re)subscribes on every (re)connect, pings to stay alive and backs off
// when the server is away. `onMessage` gets every parsed message; `onState` 'live' | 'offline'.
export function liveSocket(route, subscribeMessages, { onMessage, onState = () => {} }) {
  let delay = RECONNECT_MIN_MS;
  let socket = null;
  let pinger = null;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/${route}`;

  function connect() {
    socket = new WebSocket(url);
    socket.addEventListener('open', () => {
      delay = RECONNECT_MIN_MS;
      onState('live');
      for (const message of subscribeMessages) socket.send(JSON.stringify(message));
      pinger = setInterval(() => socket.send(JSON.stringify({ action: 'ping' })), PING_EVERY_MS);
    });
    socket.addEventListener('message', (event) => {
      try {
        onMessage(JSON.parse(event.data));
      } catch (error) {
        console.warn('live update not understood', error);
      }
    });
    socket.addEventListener('close', () => {
      clearInterval(pinger);
      onState('offline');
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    });
  }

  connect();
  return { close: () => socket?.close() };
}
