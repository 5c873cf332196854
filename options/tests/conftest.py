from __future__ import annotations

from collections.abc import Iterator

import pytest

from options.chains import clear_chain_cache
from options.parameters import clear_parameter_caches


@pytest.fixture(autouse=True)
def _fresh_chain_caches() -> Iterator[None]:
    """Each test starts with empty chain and holiday caches (its instruments and ids are its own)."""
    clear_chain_cache()
    clear_parameter_caches()
    yield
    clear_chain_cache()
    clear_parameter_caches()
