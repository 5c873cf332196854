from __future__ import annotations

from collections.abc import Iterator

import pytest

from marketdata.history_cache import clear_local
from marketdata.selectors.instruments import clear_lookup_cache


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Each test starts with empty in-process caches (its rows and ids are its own)."""
    clear_lookup_cache()
    clear_local()
    yield
    clear_lookup_cache()
    clear_local()
