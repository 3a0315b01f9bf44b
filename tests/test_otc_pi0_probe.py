"""papers/otc/pi0_probe.py's data side on hand-written arrays (the pi^0 side needs a cached pi^0: run by hand)."""

import numpy as np
import pytest

from papers.otc.pi0_probe import QVEL_FROM, slow_rows, start_profile


def _data():
    # two episodes: rows 0-2 and 3-4; obs = [position, velocity], qvel from index 1; actions 2-D
    obs = np.array([[0.0, 0.1], [0.0, 1.0], [0.0, 3.0], [0.0, -0.1], [0.0, 2.0]])
    act = np.array([[0.2, -0.4], [0.5, 0.5], [1.0, 1.0], [-0.2, -0.4], [0.5, -0.5]])
    return obs, act, np.array([0, 3]), np.array([3, 5])


def test_start_profile_by_hand():
    obs, act, starts, ends = _data()
    rows = start_profile(obs, act, starts, ends, qvel_from=1, steps=4)
    assert [r["rows"] for r in rows] == [2, 2, 1]  # step 2 exists in the first episode only; step 3 in none
    # step 0: rows 0 and 3: |a| (0.2 + 0.4 + 0.2 + 0.4) / 4 = 0.3; dim 0 cancels (0), dim 1 agrees (1): 0.5
    assert rows[0]["abs_a"] == pytest.approx(0.3) and rows[0]["sign_agreement"] == pytest.approx(0.5)
    assert rows[0]["speed"] == pytest.approx(0.1)
    # step 1: rows 1 and 4: |a| 0.5; dim 0 agrees (1), dim 1 cancels (0); speed (1 + 2) / 2
    assert rows[1]["abs_a"] == pytest.approx(0.5) and rows[1]["sign_agreement"] == pytest.approx(0.5)
    assert rows[1]["speed"] == pytest.approx(1.5)
    assert rows[2] == {"step": 2, "rows": 1, "abs_a": 1.0, "sign_agreement": 1.0, "speed": 3.0}


def test_slow_rows_and_tasks():
    obs, _, _, _ = _data()
    assert slow_rows(obs, 1, edges=(0.2, 1.5)) == {"<0.2": 2, "<1.5": 3}
    assert set(QVEL_FROM) == {"halfcheetah", "walker2d", "hopper"}
