"""Max pain: a hand-worked chain, the classic bugs, ties, and the fast formula against the definition."""

from __future__ import annotations

import numpy as np
import pytest

from options.maxpain import max_pain, pain_brute_force

# A chain where the right answer, the swapped-max() answer and the most-OI answer all differ.
STRIKES = [100.0, 110.0, 120.0, 130.0]
CE_OI = [20.0, 40.0, 20.0, 50.0]
PE_OI = [50.0, 40.0, 20.0, 50.0]
# pain(100) = puts 110:40·10 + 120:20·20 + 130:50·30                 = 400 + 400 + 1500 = 2300
# pain(110) = calls 100:20·10 + puts 120:20·10 + 130:50·20           = 200 + 200 + 1000 = 1400
# pain(120) = calls 100:20·20 + 110:40·10 + puts 130:50·10           = 400 + 400 + 500  = 1300
# pain(130) = calls 100:20·30 + 110:40·20 + 120:20·10                = 600 + 800 + 200  = 1600
EXPECTED_PAIN = [2300.0, 1400.0, 1300.0, 1600.0]


def test_hand_computed_chain() -> None:
    strike, pain = max_pain(STRIKES, CE_OI, PE_OI)
    assert strike == 120.0
    assert pain.tolist() == EXPECTED_PAIN
    assert pain_brute_force(STRIKES, CE_OI, PE_OI).tolist() == EXPECTED_PAIN


def test_swapped_arguments_give_a_different_answer() -> None:
    # Swapping CE and PE is the same as swapping the max() arguments: calls paying below the strike.
    swapped_strike, swapped_pain = max_pain(STRIKES, PE_OI, CE_OI)
    assert swapped_pain.tolist() == [2300.0, 1700.0, 1900.0, 2500.0]
    assert swapped_strike == 110.0 != max_pain(STRIKES, CE_OI, PE_OI)[0]


def test_not_the_strike_with_most_oi() -> None:
    total = np.add(CE_OI, PE_OI)
    assert STRIKES[int(np.argmax(total))] == 130.0
    assert max_pain(STRIKES, CE_OI, PE_OI)[0] == 120.0


def test_tie_goes_to_the_lowest_strike() -> None:
    # pain(100) = PE(110)·10 = 100 and pain(110) = CE(100)·10 = 100.
    strike, pain = max_pain([100.0, 110.0], [10.0, 0.0], [0.0, 10.0])
    assert (strike, pain.tolist()) == (100.0, [100.0, 100.0])
    # Input order does not matter, and the pain array follows the input order.
    strike, pain = max_pain([110.0, 100.0], [0.0, 10.0], [10.0, 0.0])
    assert (strike, pain.tolist()) == (100.0, [100.0, 100.0])


def test_unsorted_input_keeps_alignment() -> None:
    order = [2, 0, 3, 1]
    strike, pain = max_pain(np.take(STRIKES, order), np.take(CE_OI, order), np.take(PE_OI, order))
    assert strike == 120.0
    assert pain.tolist() == np.take(EXPECTED_PAIN, order).tolist()


def test_no_open_interest_has_no_max_pain() -> None:
    strike, pain = max_pain(STRIKES, [0.0] * 4, [np.nan] * 4)
    assert strike is None
    assert pain.tolist() == [0.0] * 4
    assert max_pain([], [], [])[0] is None


def test_missing_oi_counts_as_zero() -> None:
    strike, pain = max_pain([100.0, 110.0, 120.0], [np.nan, 10.0, 0.0], [0.0, 10.0, np.nan])
    # pain(100) = PE(110)·10 = 100; pain(110) = 0; pain(120) = CE(110)·10 = 100
    assert (strike, pain.tolist()) == (110.0, [100.0, 0.0, 100.0])


@pytest.mark.parametrize(
    ("strikes", "ce", "pe", "message"),
    [
        ([100.0, 110.0], [1.0], [1.0, 1.0], "same length"),
        ([100.0], [-1.0], [1.0], "negative"),
        ([np.inf], [1.0], [1.0], "finite"),
    ],
)
def test_invalid_input_is_rejected(
    strikes: list[float], ce: list[float], pe: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        max_pain(strikes, ce, pe)


@pytest.mark.parametrize("seed", range(25))
def test_fast_equals_brute_force_on_random_chains(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 500))
    strikes = 24_000.0 + 50.0 * rng.permutation(np.arange(n) - n // 2)
    ce = rng.integers(0, 5_000_000, n).astype(float)
    pe = rng.integers(0, 5_000_000, n).astype(float)
    ce[rng.random(n) < 0.2] = 0.0  # strikes with no calls open
    strike, pain = max_pain(strikes, ce, pe)
    reference = pain_brute_force(strikes, ce, pe)
    # Whole-number inputs are computed exactly by both, so they agree to the last bit.
    np.testing.assert_array_equal(pain, reference)
    assert strike == float(np.min(strikes[reference == reference.min()]))


@pytest.mark.parametrize("seed", range(10))
def test_fast_equals_brute_force_with_fractional_inputs(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(2, 300))
    strikes = np.sort(rng.uniform(100.0, 3000.0, n)) + 1e-3  # not whole paise: the float path
    ce = rng.uniform(0.0, 1e6, n)
    pe = rng.uniform(0.0, 1e6, n)
    strike, pain = max_pain(strikes, ce, pe)
    reference = pain_brute_force(strikes, ce, pe)
    np.testing.assert_allclose(pain, reference, rtol=1e-9, atol=1e-6 * reference.max())
    assert strike == strikes[int(np.argmin(reference))]


def test_symmetric_chain_ties_exactly() -> None:
    # A symmetric chain has equal pain at the two middle strikes; exact arithmetic decides the tie.
    strikes = 24_000.0 + 50.0 * np.arange(-10, 10)  # 20 strikes, no single middle
    oi = np.array([1_234_567.0 + 10 * abs(i + 0.5) for i in range(-10, 10)])
    strike, pain = max_pain(strikes, oi, oi[::-1])
    assert pain[9] == pain[10]
    assert strike == strikes[9]
