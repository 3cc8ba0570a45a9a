"""Cole-Kripke with Webster's rules, Sadeh, Oakley and the non-wear mask on hand-made vectors."""

import math

import pytest

from clinic_app.health_data.analysis.nonwear import nonwear_mask, wear_fraction
from clinic_app.health_data.analysis.sleep import cole_kripke, oakley, sadeh, sadeh_scores, score, webster_rescore


def test_cole_kripke_by_hand():
    # A = min(count / 100, 300); D = 0.001 * (106 A-4 + 54 A-3 + 58 A-2 + 76 A-1 + 230 A0 + 74 A+1 + 67 A+2).
    # Counts 400 at index 5 only: D(5) = 0.001 * 230 * 4 = 0.92 (sleep); D(4) = 0.001 * 74 * 4 = 0.296;
    # 500 at index 5: D(5) = 1.15 (wake); D(3) = 0.001 * 67 * 5 = 0.335; D(9) = 0.001 * 106 * 5 = 0.53.
    assert cole_kripke([0] * 5 + [400] + [0] * 5, rescore=False) == [True] * 11
    assert cole_kripke([0] * 5 + [500] + [0] * 5, rescore=False) == [True] * 5 + [False] + [True] * 5
    # 1500 at index 5 (A = 15): D(3) = 67*15/1000 = 1.005, D(4) = 1.11, D(5) = 3.45, D(6) = 1.14 (wake);
    # D(7) = 0.87, D(8) = 0.81 (sleep); D(9) = 106*15/1000 = 1.59 (wake); D(10) = 0 (sleep)
    s, w = True, False
    assert cole_kripke([0] * 5 + [1500] + [0] * 5, rescore=False) == [s, s, s, w, w, w, w, s, s, w, s]
    # Counts are capped at 300 after scaling: a huge count weighs as 30000
    assert cole_kripke([10**9], rescore=False) == [False]


def test_webster_after_wake_rules():
    s, w = True, False
    # 4 wake then sleep: the first sleep minute is rescored (rule a)
    assert webster_rescore([s] * 3 + [w] * 4 + [s] * 5) == [s] * 3 + [w] * 5 + [s] * 4
    # 10 wake: the first 3 sleep minutes (rule b); 15 wake: the first 4 (rule c)
    assert webster_rescore([s] * 3 + [w] * 10 + [s] * 12)[13:] == [w] * 3 + [s] * 9
    assert webster_rescore([s] * 3 + [w] * 15 + [s] * 12)[18:] == [w] * 4 + [s] * 8
    # 3 wake: nothing changes
    assert webster_rescore([s] * 3 + [w] * 3 + [s] * 5) == [s] * 3 + [w] * 3 + [s] * 5


def test_webster_surrounded_rules():
    s, w = True, False
    # rule a-c first: after 10 wake, the first 3 of 9 sleep minutes become wake; the remaining 6-minute
    # bout has 10+3 wake before and 10 after, so rule d makes it wake too
    assert webster_rescore([w] * 10 + [s] * 9 + [w] * 10) == [w] * 29
    # 12 sleep minutes between 20-minute wake runs: 4 rescored, 8 left, at most 10 with >= 20 around: wake
    assert webster_rescore([w] * 20 + [s] * 12 + [w] * 20) == [w] * 52
    # 16 sleep minutes between 20 wake: 4 rescored, 12 left stay sleep
    assert webster_rescore([w] * 20 + [s] * 16 + [w] * 20).count(s) == 12


def test_cole_kripke_rescoring_is_on_by_default():
    # 12 zero minutes between bursts: only indices 14-19 have no burst in their window (6 sleep minutes);
    # after 14 wake minutes the first 3 are rescored (rule b), and the 3 left, with >= 10 wake minutes
    # on both sides, become wake too (rule d)
    counts = [5000] * 10 + [0] * 12 + [5000] * 10
    raw = cole_kripke(counts, rescore=False)
    assert [i for i, s in enumerate(raw) if s] == [14, 15, 16, 17, 18, 19]
    assert cole_kripke(counts) == [False] * 32


def test_sadeh_by_hand():
    # All-zero: MW5 = 0, NAT = 0, SD6 = 0, LG = 0 -> PS = 7.601 (sleep)
    assert sadeh_scores([0] * 20) == pytest.approx([7.601] * 20)
    # A lone 60 at index 10 in zeros: window of 11 -> MW5 = 60/11, NAT = 1, SD6 = stdev([0]*5+[60]), LG = ln 61
    scores = sadeh_scores([0] * 10 + [60] + [0] * 10)
    sd6 = math.sqrt((5 * 10**2 + 50**2) / 5)  # mean 10 -> squares 5*100 + 2500, n-1 = 5
    assert scores[10] == pytest.approx(7.601 - 0.065 * 60 / 11 - 1.08 - 0.056 * sd6 - 0.703 * math.log(61))
    assert sadeh([0] * 10)[0] is True
    assert sadeh([300] * 20) == [False] * 20  # MW5 = 300 alone gives PS = 7.601 - 19.5 - 0.703 ln 301 < 0


def test_oakley_by_hand():
    # 1-minute weights 0.04, 0.2, 1, 0.2, 0.04; wake above the threshold (medium 40)
    counts = [0, 0, 40, 0, 0, 0, 150, 0, 0]
    # index 2: 40 -> 40 (sleep, at the threshold); index 5: 0.2*150 = 30; index 4: 0.04*150 = 6; index 6: 150
    assert oakley(counts) == [True] * 6 + [False] + [True] * 2
    assert oakley(counts, threshold="low") == [True] * 2 + [False] + [True] * 2 + [False, False, False, True]
    # 2-minute weights 0.12, 0.5, 0.12: index 1 totals 0.5*200 = 100 > 80; indices 0 and 2 total 24
    assert oakley([0, 200, 0], epoch_seconds=120, threshold=80) == [True, False, True]


def test_score_checks_the_epoch():
    with pytest.raises(ValueError, match="60-second epochs"):
        score([0, 1], "cole_kripke", epoch_seconds=30)
    with pytest.raises(ValueError, match="unknown sleep scoring algorithm"):
        score([0, 1], "magic")


def test_nonwear_runs_of_90_minutes():
    values = [5] + [0] * 90 + [3] + [0] * 89 + [None] + [0] * 4
    mask = nonwear_mask(values)
    assert mask[1:91] == [True] * 90
    assert not mask[0] and not mask[91]
    assert not any(mask[92:])  # 89 zeros is one short; a missing epoch ends the run
    assert wear_fraction(values, mask) == pytest.approx((len(values) - 90 - 1) / len(values))
    assert nonwear_mask([0] * 180, epoch_seconds=30) == [True] * 180  # 90 minutes of 30-s epochs
    assert nonwear_mask([0] * 179, epoch_seconds=30) == [False] * 179
