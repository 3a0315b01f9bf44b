"""The CPU type that records and long runs name (common.running.runtime.cpu_model): results are bit-identical on one CPU type,
not across types, so the name must tell types apart (the model name alone reads "AMD EPYC" for several generations)."""

from __future__ import annotations

import platform

from common.running import runtime


def test_cpu_model_names_the_family_model_and_vector_width(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
        "model name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx avx2\n\nprocessor\t: 1\nmodel name\t: other\n"
    )
    real_open = open
    monkeypatch.setattr(
        "builtins.open", lambda p, *a, **k: real_open(info if p == "/proc/cpuinfo" else p, *a, **k)
    )
    assert runtime.cpu_model() == "AMD EPYC (family 25 model 1, avx2)"
    info.write_text("flags\t: avx512f\n")  # no model name: the platform's string
    assert runtime.cpu_model() == (platform.processor() or platform.machine() or "unknown")


def test_cpu_model_on_this_machine_is_a_non_empty_string():
    name = runtime.cpu_model()
    assert isinstance(name, str) and name.strip()
