"""common.running.fields: rules declared on config fields and the one validator that reads them."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from common.running.fields import Needs, Rules, check, low_high, opt, unused_to_defaults

_CQL = Needs("reg='cql'", lambda c: c.reg == "cql")


@dataclass
class Toy:
    width: int = opt(64, kind="int", ge=1)
    lr: float = opt(0.01, kind="num", gt=0, le=1)
    clip: float | None = opt(None, kind="num", gt=0, none_ok=True)
    flag: bool = opt(False, kind="bool")
    reg: str = opt("none", choices=("none", "cql"))
    alpha: float = opt(1.0, kind="num", ge=0, per_member=True, needs=_CQL)
    sizes: list = opt([2, 3], kind="int", ge=1, per_member=True)
    RULES: ClassVar[Rules] = (
        (lambda c: not (c.flag and c.reg == "cql"), "flag={c.flag!r} excludes reg='cql'"),
    )


def test_valid_values_pass_numpy_included():
    assert check(Toy(width=np.int64(8), lr=np.float32(0.5), clip=0.5, reg="cql", alpha=[0.0, 2.0])).width == 8
    assert Toy().sizes == [2, 3] and Toy().sizes is not Toy().sizes  # a list default is copied per instance


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(width=0), "Toy.width=0 is not allowed; choose an integer >= 1"),
        (dict(width=True), "Toy.width=True is not allowed; choose an integer >= 1"),  # a bool is not a count
        (dict(width=2.0), "Toy.width=2.0 is not allowed; choose an integer >= 1"),
        (dict(lr=0.0), "Toy.lr=0.0 is not allowed; choose a number in (0, 1]"),
        (dict(lr=float("nan")), "Toy.lr=nan is not allowed; choose a number in (0, 1]"),
        (dict(clip=-1.0), "Toy.clip=-1.0 is not allowed; choose None or a number > 0"),
        (dict(flag=1), "Toy.flag=1 is not allowed; choose True or False"),
        (dict(reg="bcq"), "Toy.reg='bcq' is not allowed; choose one of ['none', 'cql']"),
        (
            dict(reg="cql", alpha=[1.0, -1.0]),
            "Toy.alpha=[1.0, -1.0] is not allowed; choose a number >= 0, or one such value per member",
        ),
        (dict(reg="cql", alpha=[]), "Toy.alpha=[] is not allowed"),
        (dict(alpha=2.0), "Toy.alpha=2.0 is set but unused: it needs reg='cql'"),
        (dict(flag=True, reg="cql"), "Toy: flag=True excludes reg='cql'"),
    ],
)
def test_each_bad_value_is_one_error_naming_field_value_and_allowed(kw, message):
    with pytest.raises(ValueError) as e:
        check(Toy(**kw))
    assert str(e.value).startswith(message)


def test_unused_to_defaults_drops_the_settings_of_an_option_turned_off():
    cfg = unused_to_defaults(Toy(reg="none", alpha=3.0, width=8))
    assert (cfg.alpha, cfg.width) == (1.0, 8) and check(cfg) is cfg


def test_an_unknown_kind_is_refused():
    with pytest.raises(
        ValueError,
        match=r"opt\(kind='float'\) is not a kind; choose one of \['int', 'num', "
        r"'real', 'bool', 'str', 'device'\] or a class",
    ):
        opt(1.0, kind="float")


_NAMES = ["a", "b"]  # a registry that grows after the class is declared


@dataclass
class Outer:
    name: str = opt("a", choices=lambda: _NAMES)
    device: str = opt("cpu", kind="device")
    bounds: tuple = opt((-1.0, 1.0), kind="num", seq=True)
    inner: Toy = opt(Toy(), kind=Toy)
    RULES: ClassVar[Rules] = (low_high("bounds"),)


def test_registry_choices_nested_configs_devices_and_bounds():
    _NAMES.append("c")
    assert check(Outer(name="c", device="cuda:1")).inner == Toy() and Outer().inner is not Outer().inner
    for kw, message in [
        (dict(name="d"), "Outer.name='d' is not allowed; choose one of ['a', 'b', 'c']"),
        (dict(device="gpu"), "Outer.device='gpu' is not allowed; choose 'cpu', 'cuda' or 'cuda:<index>'"),
        (dict(inner={"width": 8}), "Outer.inner={'width': 8} is not allowed; choose a Toy"),
        (dict(inner=Toy(width=0)), "Toy.width=0 is not allowed"),  # the nested config's own rule
        (
            dict(bounds=(1.0, -1.0)),
            "Outer: bounds=(1.0, -1.0) is not allowed; choose two numbers (low, high) with low < high",
        ),
        (dict(bounds=(-1.0, 0.0, 1.0)), "Outer: bounds=(-1.0, 0.0, 1.0) is not allowed"),
    ]:
        with pytest.raises(ValueError) as e:
            check(Outer(**kw))
        assert str(e.value).startswith(message)
