import pickle
from dataclasses import dataclass

import pytest

from common.running.profiles import (
    BASE_PROFILES,
    PROFILE_NAMES,
    PaperProfiles,
    PaperSettings,
    Profile,
    get_profile,
    validate_overrides,
)


@dataclass(frozen=True)
class Toy(PaperSettings):
    """A paper's settings as a config.py declares them."""

    batch_size: int | None = None  # minibatch; None: the paper's
    updates: int = 1000  # the paper's
    scale: float = 1.0
    memory: dict[str, int] | None = None


TOY = PaperProfiles(
    Toy,
    by_profile={
        "smoke": {"seeds": [7], "paper": {"batch_size": 32, "memory": {"po": 2}}},
        "quick": {"update_scale": 0.5, "paper": {"updates": 10, "scale": 2}},
        "full": {"paper": {"batch_size": None}},
    },
)


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
    over = {"quick": {"update_scale": 0.5}, "smoke": {"seeds": [7]}}
    p = get_profile("quick", over)
    assert p.update_scale == 0.5 and p.paper == PaperSettings()
    assert p.data_scale == base.data_scale and p.n_seeds == base.n_seeds
    s = get_profile("smoke", over)
    assert s.seeds == [7] and s.n_seeds == 1
    assert get_profile("full", over) == get_profile("full")
    assert "paper" not in BASE_PROFILES["quick"]  # the base definition is not mutated
    assert get_profile("quick", {"quick": {"n_seeds": 4}}).seeds == [0, 1, 2, 3]


def test_paper_settings_are_typed_attributes_with_the_papers_defaults():
    smoke, quick, full = (get_profile(n, TOY) for n in PROFILE_NAMES)
    assert isinstance(smoke.paper, Toy) and smoke.seeds == [7]
    assert (smoke.paper.batch_size, smoke.paper.updates, smoke.paper.memory) == (32, 1000, {"po": 2})
    assert (quick.paper.updates, quick.paper.scale, quick.update_scale) == (10, 2, 0.5)
    assert full.paper == Toy() and full.paper.batch_size is None
    with pytest.raises(
        AttributeError, match=r"'batch' is not one of Toy's \(batch_size, updates, scale, memory\)"
    ):
        smoke.paper.batch
    with pytest.raises(AttributeError, match="a job needs the profile of its paper"):
        get_profile("smoke").paper.batch_size  # a profile built without the paper's settings


def test_the_record_stores_the_settings_the_profile_set():
    """``to_dict`` (the record's profile_settings) names the settings a profile set, in its order and with its values,
    a None set explicitly included, the defaults left out: the records' form before the settings were typed."""
    smoke, quick, full = (get_profile(n, TOY) for n in PROFILE_NAMES)
    assert smoke.to_dict() == {
        "name": "smoke",
        "n_seeds": 1,
        "seeds": [7],
        "data_scale": 0.01,
        "update_scale": 0.001,
        "eval_episodes": 2,
        "eval_every": None,
        "overrides": {"batch_size": 32, "memory": {"po": 2}},
    }
    assert list(quick.to_dict()["overrides"].items()) == [("updates", 10), ("scale", 2)]
    assert full.to_dict()["overrides"] == {"batch_size": None}
    assert get_profile("full").to_dict()["overrides"] == {}
    again = pickle.loads(pickle.dumps(smoke))  # what the process and Ray launchers send
    assert again == smoke and again.to_dict() == smoke.to_dict()
    smoke.to_dict()["overrides"]["memory"]["po"] = 9  # a copy: the profile is unchanged
    assert smoke.paper.memory == {"po": 2}


def test_paper_settings_reject_unknown_names_and_wrong_types():
    with pytest.raises(
        ValueError,
        match=r"unknown paper setting\(s\) \['batch'\] in the 'smoke' profile for Toy; "
        r"allowed: batch_size, updates, scale, memory",
    ):
        PaperProfiles(Toy, by_profile={"smoke": {"paper": {"batch": 3}}})
    for bad, text in ((True, "bool"), (2.5, "float"), ("32", "str")):
        with pytest.raises(
            ValueError, match=rf"Toy.batch_size in the 'quick' profile = {bad!r}: not a int \| None"
        ):
            PaperProfiles(Toy, by_profile={"quick": {"paper": {"batch_size": bad}}})
    with pytest.raises(ValueError, match=r"Toy.memory in the 'full' profile = \{'po': 2.0\}"):
        PaperProfiles(Toy, by_profile={"full": {"paper": {"memory": {"po": 2.0}}}})
    assert Toy.of({"scale": 3}).scale == 3  # an int is a float
    with pytest.raises(ValueError, match="settings must be a PaperSettings subclass"):
        PaperProfiles(dict, by_profile={})
    with pytest.raises(
        ValueError,
        match=r"paper settings \{'batch_size': 3\} in the 'quick' profile need a "
        "PaperProfiles",
    ):
        get_profile("quick", {"quick": {"paper": {"batch_size": 3}}})


def test_overrides_reject_unknown_keys():
    with pytest.raises(ValueError, match="unknown profile override key.*'updates'"):
        get_profile("quick", {"quick": {"updates": 3}})
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        validate_overrides({"fast": {}})
    with pytest.raises(ValueError, match=r"update_scale=2.0 is not allowed; choose a number in \(0, 1\]"):
        get_profile("quick", {"quick": {"update_scale": 2.0}})
    with pytest.raises(ValueError, match="seeds"):
        Profile("quick", n_seeds=2, seeds=[1, 1])
    with pytest.raises(ValueError, match=r"paper=\{'batch_size': 3\} is not allowed; choose a PaperSettings"):
        Profile("quick", n_seeds=1, paper={"batch_size": 3})


@pytest.mark.parametrize(
    "paper, attr",
    [
        ("omar", "PROFILE_OVERRIDES"),
        ("cast_bcq", "PROFILE_OVERRIDES"),
        ("moma_ppo", "PROFILES"),
        ("otc", "PROFILE_OVERRIDES"),
    ],
)
def test_every_papers_settings_are_declared_with_a_comment(paper, attr):
    """Each paper's settings dataclass: every field has a comment in its source (its meaning and source), at the end of
    its line or, when too long for it, on the line just above; and each profile's settings build."""
    import importlib
    import inspect

    config = importlib.import_module(f"papers.{paper}.config")
    profiles = getattr(config, attr)
    source = inspect.getsource(profiles.settings)
    for name in profiles.settings.names():
        lines = source.splitlines()
        i = next(i for i, ln in enumerate(lines) if ln.strip().startswith(f"{name}:"))
        above = lines[i - 1].strip().startswith("#")
        assert "#" in lines[i] or above, f"{profiles.settings.__name__}.{name} has no comment"
    for name in PROFILE_NAMES:
        assert isinstance(get_profile(name, profiles).paper, profiles.settings)
