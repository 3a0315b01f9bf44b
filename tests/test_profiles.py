import pytest

from common.running.profiles import BASE_PROFILES, PROFILE_NAMES, Profile, get_profile, validate_overrides


def test_base_profiles():
    assert PROFILE_NAMES == ("smoke", "quick", "full")
    smoke, quick, full = (get_profile(n) for n in PROFILE_NAMES)
    assert 1 <= smoke.n_seeds <= 2 and smoke.seeds == list(range(smoke.n_seeds))
    assert quick.n_seeds == 3 and full.n_seeds == 5 and full.seeds == [0, 1, 2, 3, 4]
    assert full.data_scale == 1.0 and full.update_scale == 1.0
    assert smoke.update_scale < quick.update_scale < full.update_scale
    assert full.n_updates(1_000_000) == 1_000_000 and smoke.n_updates(10) == 1
    assert full.n_eval_episodes(10) == 10 and smoke.n_eval_episodes(10) == smoke.eval_episodes


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ValueError, match="smoke, quick, full"):
        get_profile("medium")


def test_overrides_merge():
    base = get_profile("quick")
    over = {"quick": {"update_scale": 0.5, "overrides": {"batch_size": 64}}, "smoke": {"seeds": [7]}}
    p = get_profile("quick", over)
    assert p.update_scale == 0.5 and p.overrides == {"batch_size": 64}
    assert p.data_scale == base.data_scale and p.n_seeds == base.n_seeds
    s = get_profile("smoke", over)
    assert s.seeds == [7] and s.n_seeds == 1
    assert get_profile("full", over) == get_profile("full")
    assert BASE_PROFILES["quick"].get("overrides", {}) == {}  # the base definition is not mutated
    assert get_profile("quick", {"quick": {"n_seeds": 4}}).seeds == [0, 1, 2, 3]


def test_overrides_reject_unknown_keys():
    with pytest.raises(ValueError, match="unknown profile override key.*'updates'"):
        get_profile("quick", {"quick": {"updates": 3}})
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        validate_overrides({"fast": {}})
    with pytest.raises(ValueError, match="update_scale must be in"):
        get_profile("quick", {"quick": {"update_scale": 2.0}})
    with pytest.raises(ValueError, match="seeds"):
        Profile("quick", n_seeds=2, seeds=[1, 1])
