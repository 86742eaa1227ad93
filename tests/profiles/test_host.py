"""The computed ``host`` profile, from the facts of a fake machine."""

from __future__ import annotations

import pytest

from edgeres.profiles import Profile, host_profile, read_facts


def test_host_profile_from_fake_arm_machine(fake_root, pi_cpuinfo):
    root = fake_root(
        {
            "proc/cpuinfo": pi_cpuinfo,
            "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "2400000\n",
        },
    )
    facts = read_facts(root, arch="aarch64")
    assert facts.cores == 4 and facts.max_mhz == 2400.0 and "asimddp" in facts.flags
    p = host_profile(facts)
    assert isinstance(p, Profile) and p.int8_activations == "int8" and p.threads == 4
    assert p.peaks["cpu"].fp32_gflops.value == pytest.approx(4 * 2.4 * 16)
    assert p.peaks["cpu"].int8_gops.value == pytest.approx(4 * 2.4 * 64)
    assert "theoretical" in p.peaks["cpu"].fp32_gflops.source


def test_host_profile_without_clock_has_unknown_peaks(fake_root):
    facts = read_facts(fake_root({"proc/cpuinfo": "processor\t: 0\n"}), arch="x86_64")
    p = host_profile(facts)
    assert p.int8_activations == "uint8"
    assert p.peaks["cpu"].fp32_gflops.value is None
