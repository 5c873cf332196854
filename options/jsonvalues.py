"""numpy columns → JSON-ready lists: NaN and ±inf become None (JSON has neither)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def nullable_floats(values: npt.ArrayLike) -> list[float | None]:
    array = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(array)
    floats: list[float] = array.tolist()
    if finite.all():
        return list(floats)
    return [v if ok else None for v, ok in zip(floats, finite.tolist(), strict=True)]


def nullable_ints(values: npt.ArrayLike) -> list[int | None]:
    array = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(array)
    ints: list[int] = np.where(finite, array, 0.0).round().astype(np.int64).tolist()
    return [v if ok else None for v, ok in zip(ints, finite.tolist(), strict=True)]
