"""Profiles round-trip, are written atomically, and refuse a foreign model or device."""

from __future__ import annotations

import json
import os

import pytest

from loadrun.profile import (ProfileError, atomic_write_json, check_applies, default_profile_path,
                             load_profile, local_fingerprint, make_profile)


def sample_profile():
    fp = local_fingerprint("build-abc")
    return make_profile(model_path="models/resnet18.mge", model_sha256="ab" * 32, fingerprint=fp,
                        options={"threads": 2}, algo_cache=None,
                        winner_stats={"median": 1.0}, default_stats={"median": 2.0},
                        speedup={"ratio": 2.0}, fit={"trials": 3, "seed": 0}), fp


def test_round_trip(tmp_path):
    prof, fp = sample_profile()
    path = tmp_path / "p.json"
    atomic_write_json(path, prof)
    assert load_profile(path) == json.loads(json.dumps(prof))
    assert check_applies(load_profile(path), model_sha256="ab" * 32, fingerprint=fp) == []
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_refuses_other_model_and_device(tmp_path):
    prof, fp = sample_profile()
    with pytest.raises(ProfileError, match="model digest"):
        check_applies(prof, model_sha256="cd" * 32, fingerprint=fp)
    other = dict(fp, cpu_model="Some Other CPU", cores=fp["cores"] + 1)
    with pytest.raises(ProfileError) as e:
        check_applies(prof, model_sha256="ab" * 32, fingerprint=other)
    assert "cpu_model" in str(e.value) and "cores" in str(e.value) and "--force" in str(e.value)
    assert len(check_applies(prof, model_sha256="ab" * 32, fingerprint=other, force=True)) == 2


@pytest.mark.parametrize("content", ["{", "[]", '{"schema": "x"}', '{"schema": "loadrun.profile/1"}'])
def test_malformed_profiles(tmp_path, content):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(ProfileError):
        load_profile(p)


def test_default_path_convention():
    fp = local_fingerprint("b")
    p = default_profile_path("../shared/models/resnet18/model.mge", fp)
    assert p.parts[0] == "profiles" and p.parts[1] == "resnet18" and p.suffix == ".json"
    assert default_profile_path("x/mobilenet.mge", fp).parts[1] == "mobilenet"
