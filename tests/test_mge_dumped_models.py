"""Models dumped by MegEngine 1.13 itself (tests/data/mge, see its README) read by loadrun: the
reference executor must reproduce MegEngine's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mge_ir_compare import max_err_ok

from loadrun.formats import load_model, mge
from loadrun.ir.reference import execute

DATA = Path(__file__).resolve().parent / "data" / "mge"
MODELS = sorted(DATA.glob("*.mge"))


def have_cryptography() -> bool:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


def case(path: Path):
    z = np.load(path.with_suffix(".npz"))
    feeds = {k[4:]: z[k] for k in z.files if k.startswith("in__")}
    outs = [z[f"out__{i}"] for i in range(sum(k.startswith("out__") for k in z.files))]
    decrypt = str(z["meta__decrypt"]) if "meta__decrypt" in z.files else None
    return feeds, outs, decrypt


def test_data_is_present_and_small():
    assert len(MODELS) >= 17
    total = sum(p.stat().st_size for p in DATA.iterdir() if p.suffix in (".mge", ".npz"))
    assert total < 200 * 1024


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_matches_megengine(path):
    feeds, outs, decrypt = case(path)
    if decrypt and not have_cryptography():
        pytest.skip("AES_default decryption needs the optional 'cryptography' package")
    g = load_model(path, decrypt=decrypt)
    got = execute(g, feeds)
    assert len(got) == len(outs)
    for k, (a, ref) in enumerate(zip(got, outs)):
        if a.size == ref.size:
            a = a.reshape(ref.shape)
        ok, err = max_err_ok(a, ref)
        assert ok, f"output {k} ({g.output_names()[k]}): max abs err {err}"
        if ref.dtype.kind in "iu":
            assert np.array_equal(a, ref)


def test_containers_are_what_they_claim():
    kinds = {p.stem: mge.parse_bytes(p.read_bytes(), p.name, case(p)[2]).container for p in MODELS
             if not case(p)[2] or have_cryptography()}
    assert kinds["v1_fbs"] == "v1-MGBC"
    assert kinds["mgbtest0"] == "mgbtest0/v2"
    assert kinds["packed_model"] == "packed_model/v2"
    assert kinds["argsort"] == "v2"


def test_encrypted_model_without_key_is_a_format_error():
    from loadrun.errors import ModelFormatError
    with pytest.raises(ModelFormatError, match="encrypted bare model"):
        load_model(DATA / "aes_default.mge")
