// New strategy: name, account and legs, created in one POST /api/v1/strategies/ (all or nothing).
import { ApiError, api } from './common.js';

const SEARCH_DEBOUNCE_MS = 250;
const SEARCH_LIMIT = 12;

const form = document.getElementById('strategy-form');
const legs = document.querySelector('#legs tbody');
const rowTemplate = document.getElementById('leg-row');
const options = document.getElementById('instrument-options');
const errors = document.getElementById('form-errors');

function addLeg() {
  const row = rowTemplate.content.firstElementChild.cloneNode(true);
  row.querySelector('.remove-leg').addEventListener('click', () => row.remove());
  const symbol = row.querySelector('input[name="symbol"]');
  let timer = null;
  symbol.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(symbol.value), SEARCH_DEBOUNCE_MS);
  });
  symbol.addEventListener('change', () => prefillPrice(row));
  legs.append(row);
  return row;
}

async function search(text) {
  if (text.trim().length < 2) return;
  try {
    const found = await api(`/api/v1/udf/search?query=${encodeURIComponent(text.trim())}&limit=${SEARCH_LIMIT}`);
    options.replaceChildren(...found.map((item) => new Option(item.description, item.ticker)));
  } catch {
    // Suggestions are a convenience; typing the full symbol still works.
  }
}

// The entry price defaults to the instrument's last price, when the datafeed has one.
async function prefillPrice(row) {
  const price = row.querySelector('input[name="entry_price"]');
  const symbol = row.querySelector('input[name="symbol"]').value.trim();
  if (price.value || !symbol.includes(':')) return;
  try {
    const quotes = await api(`/api/v1/udf/quotes?symbols=${encodeURIComponent(symbol)}`);
    const last = quotes?.d?.[0]?.v?.lp;
    if (last && !price.value) price.value = last;
  } catch {
    // No quote: the user types the price.
  }
}

function readLegs() {
  return [...legs.querySelectorAll('tr')].map((row) => {
    const value = (name) => row.querySelector(`[name="${name}"]`).value.trim();
    return { symbol: value('symbol'), side: value('side'), lots: value('lots'), entry_price: value('entry_price') };
  });
}

function describe(error) {
  if (!(error instanceof ApiError)) return String(error);
  const details = error.details && typeof error.details === 'object' ? error.details : {};
  const lines = [error.message];
  for (const [field, problem] of Object.entries(details)) {
    if (field === 'instruments' || Array.isArray(problem)) continue;
    lines.push(`${field}: ${JSON.stringify(problem)}`);
  }
  return lines.join('\n');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  errors.textContent = '';
  const data = new FormData(form);
  const body = {
    name: data.get('name'),
    description: data.get('description'),
    tags: String(data.get('tags') || '').split(',').map((t) => t.trim()).filter(Boolean),
    trading_account: data.get('trading_account') || null,
    instruments: readLegs(),
  };
  const button = document.getElementById('create');
  button.disabled = true;
  try {
    const created = await api('/api/v1/strategies/', { method: 'POST', body });
    location.assign(`/strategies/${created.id}/`);
  } catch (error) {
    errors.textContent = describe(error);
    button.disabled = false;
  }
});

document.getElementById('add-leg').addEventListener('click', () => addLeg().querySelector('input').focus());
addLeg();
