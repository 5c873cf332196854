"""Importing OHLCV(+OI) files (CSV or Parquet) into minute bars.

The file is read with Arrow and validated column-wise (no per-row Python): each rejected row is
reported with its line number and reason; valid rows are written in chunks through the COPY
upsert, so a row is either stored whole or not at all and a re-import changes nothing.

Columns (case-insensitive): `symbol` (EXCHANGE:TRADINGSYMBOL) or `token` / `instrument_token`;
`time` / `timestamp` / `datetime` / `date` — ISO-8601 with an offset, naive (read as IST, the
exchange's wall clock), or epoch seconds/milliseconds; `open`, `high`, `low`, `close`;
optional `volume` (default 0) and `oi`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from marketdata.models import Instrument
from marketdata.services.bars import BarBatch, bars_upsert, bars_written
from marketdata.symbols import normalise

TIME_COLUMNS = ("time", "timestamp", "datetime", "date")
TOKEN_COLUMNS = ("token", "instrument_token")
PRICE_COLUMNS = ("open", "high", "low", "close")
CHUNK_ROWS = 200_000
EPOCH_MS_THRESHOLD = 10**11  # epoch values above this are milliseconds
MARKET_TZ = "Asia/Kolkata"


class ImportFileError(ValueError):
    """The file as a whole cannot be imported."""


@dataclass
class ImportReport:
    rows: int = 0
    written: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    # Time spent bringing rollups and caches up to date after the rows were stored.
    refresh_seconds: float = 0.0


def read_table(path: Path) -> pa.Table:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pq.read_table(path)
        else:
            table = pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True, timestamp_parsers=[])
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportFileError(f"cannot read {path.name}: {exc}") from exc
    return table.rename_columns([c.strip().lower() for c in table.column_names])


def _pick(table: pa.Table, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in table.column_names), None)


def _float_column(table: pa.Table, name: str) -> npt.NDArray[np.float64]:
    """A numeric column as float64; text that is not a number becomes NaN (and is rejected later)."""
    column = table.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pd.to_numeric(column.to_pandas(), errors="coerce").to_numpy(dtype=np.float64)
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _times_us(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Epoch microseconds and a validity mask for a time column of any accepted form."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            column = pc.assume_timezone(column, MARKET_TZ, ambiguous="raise", nonexistent="raise")
        us = pc.cast(column, pa.timestamp("us", tz="UTC")).cast(pa.int64())
        return _with_mask(us)
    if pa.types.is_date(kind):
        ts = pc.assume_timezone(pc.cast(column, pa.timestamp("us")), MARKET_TZ)
        return _with_mask(pc.cast(ts, pa.int64()))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        raw = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        valid = np.isfinite(raw) & (raw > 0)
        us = np.where(raw > EPOCH_MS_THRESHOLD, raw * 1_000, raw * 1_000_000)
        return np.where(valid, us, 0).astype(np.int64), valid
    # Strings: ISO-8601, with or without an offset.
    text = pc.utf8_trim_whitespace(column)
    with_offset = pc.match_substring_regex(text, r"([+-]\d\d:?\d\d|Z)$")
    parsed_utc = pc.strptime(pc.if_else(with_offset, text, None), format="%Y-%m-%dT%H:%M:%S%z", unit="us",
                             error_is_null=True)
    naive_text = pc.replace_substring(pc.if_else(with_offset, None, text), "T", " ")
    parsed_naive = pc.strptime(naive_text, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    parsed_naive = pc.if_else(
        pc.is_null(parsed_naive), pc.strptime(naive_text, format="%Y-%m-%d %H:%M", unit="us", error_is_null=True),
        parsed_naive,
    )
    local = pc.assume_timezone(parsed_naive, MARKET_TZ, ambiguous="raise", nonexistent="raise")
    utc_from_naive = pc.cast(pc.cast(local, pa.timestamp("us", tz="UTC")), pa.int64())
    utc_from_offset = pc.cast(pc.cast(parsed_utc, pa.timestamp("us", tz="UTC")), pa.int64())
    us, valid = _with_mask(pc.if_else(with_offset, utc_from_offset, utc_from_naive))
    # Epoch seconds or milliseconds written as text.
    is_epoch = pc.fill_null(pc.match_substring_regex(text, r"^\d{9,13}$"), False).to_numpy(zero_copy_only=False)
    if is_epoch.any():
        epoch = pd.to_numeric(pd.Series(text.to_pandas()).where(is_epoch), errors="coerce").to_numpy(np.float64)
        epoch_us = np.where(epoch > EPOCH_MS_THRESHOLD, epoch * 1_000, epoch * 1_000_000)
        us = np.where(is_epoch, np.nan_to_num(epoch_us).astype(np.int64), us)
        valid = valid | is_epoch
    return us, valid


def _with_mask(values: pa.ChunkedArray | pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
    return pc.fill_null(values, 0).to_numpy(zero_copy_only=False).astype(np.int64), valid


def _instrument_ids(table: pa.Table) -> npt.NDArray[np.int64]:
    """instrument id per row; 0 where the symbol/token is unknown."""
    token_column = _pick(table, TOKEN_COLUMNS)
    if token_column is not None:
        tokens = pc.cast(table.column(token_column), pa.int64(), safe=False)
        keys = pc.fill_null(tokens, 0).to_numpy(zero_copy_only=False)
        unique = np.unique(keys)
        mapping = dict(Instrument.objects.filter(instrument_token__in=unique.tolist()).values_list(
            "instrument_token", "pk"))
    elif "symbol" in table.column_names:
        raw = pc.fill_null(table.column("symbol"), "").to_numpy(zero_copy_only=False)
        uniques, inverse = np.unique(raw, return_inverse=True)
        normalised = [normalise(str(s)) if s else "" for s in uniques]
        found = dict(Instrument.objects.filter(symbol__in=normalised).values_list("symbol", "pk"))
        ids = np.array([found.get(s, 0) for s in normalised], dtype=np.int64)
        return ids[inverse]
    else:
        raise ImportFileError("a symbol or token column is required")
    return np.array([mapping.get(int(k), 0) for k in unique], dtype=np.int64)[np.searchsorted(unique, keys)]


def validate(table: pa.Table, line_offset: int = 2) -> tuple[BarBatch, list[tuple[int, str]]]:
    """Split a table into valid bars and (line, reason) rejections."""
    missing = [c for c in PRICE_COLUMNS if c not in table.column_names]
    time_column = _pick(table, TIME_COLUMNS)
    if missing or time_column is None:
        raise ImportFileError(f"missing columns: {', '.join(missing + ([] if time_column else ['time']))}")
    n = table.num_rows
    instrument_id = _instrument_ids(table)
    time_us, time_ok = _times_us(table.column(time_column))
    o, h, low, c = (_float_column(table, name) for name in PRICE_COLUMNS)
    volume = _float_column(table, "volume") if "volume" in table.column_names else np.zeros(n)
    oi = _float_column(table, "oi") if "oi" in table.column_names else np.full(n, np.nan)

    reasons = np.full(n, "", dtype=object)
    checks: list[tuple[npt.NDArray[np.bool_], str]] = [
        (instrument_id == 0, "unknown symbol or token"),
        (~time_ok, "unparseable time"),
        (~(np.isfinite(o) & np.isfinite(h) & np.isfinite(low) & np.isfinite(c)), "missing or non-numeric price"),
        ((o <= 0) | (h <= 0) | (low <= 0) | (c <= 0), "prices must be positive"),
        ((h < np.maximum(o, c)) | (low > np.minimum(o, c)) | (low > h), "high/low inconsistent with open/close"),
        (~np.isfinite(volume) | (volume < 0), "volume must be a non-negative number"),
        ((~np.isnan(oi)) & (oi < 0), "oi must be non-negative"),
        (time_ok & (time_us % 60_000_000 != 0), "time is not on a minute boundary"),
    ]
    for failed, reason in checks:
        reasons = np.where(failed & (reasons == ""), reason, reasons)
    # A repeated (instrument, minute) inside one file is ambiguous: keep the last, reject earlier ones.
    key = instrument_id
    order = np.lexsort((np.arange(n), time_us, key))
    dup = np.zeros(n, dtype=bool)
    same_next = (key[order][:-1] == key[order][1:]) & (time_us[order][:-1] == time_us[order][1:])
    dup[order[:-1][same_next]] = True
    reasons = np.where(dup & (reasons == ""), "duplicate of a later row for the same minute", reasons)

    good = reasons == ""
    batch = BarBatch(
        instrument_id=instrument_id[good], time_us=time_us[good], open=o[good], high=h[good], low=low[good],
        close=c[good], volume=volume[good].astype(np.int64), oi=oi[good],
    )
    bad = np.nonzero(~good)[0]
    return batch, [(int(i) + line_offset, str(reasons[i])) for i in bad]


def import_bars(*, table: pa.Table, progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import a table (from `read_table`) chunk by chunk; rollups and caches are brought up to date
    once at the end."""
    report = ImportReport(rows=table.num_rows)
    touched: set[int] = set()
    first_us, last_us = None, None
    for start in range(0, table.num_rows, CHUNK_ROWS):
        chunk = table.slice(start, CHUNK_ROWS)
        batch, rejected = validate(chunk, line_offset=start + 2)
        report.rejected.extend(rejected)
        changed = bars_upsert(batch=batch, notify=False)
        report.written += changed
        report.unchanged += len(batch) - changed
        if changed:
            touched.update(np.unique(batch.instrument_id).tolist())
            low, high = int(batch.time_us.min()), int(batch.time_us.max())
            first_us = low if first_us is None else min(first_us, low)
            last_us = high if last_us is None else max(last_us, high)
        if progress is not None:
            progress(chunk.num_rows)
    if touched and first_us is not None and last_us is not None:
        started = time.perf_counter()
        bars_written(instrument_ids=touched, start=_from_us(first_us), end=_from_us(last_us))
        report.refresh_seconds = time.perf_counter() - started
    return report


def _from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)
