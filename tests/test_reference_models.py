"""The reader + numpy reference executor reproduce MegEngine Lite on every shared model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TOLERANCE, max_rel_error, model_params, reference_outputs
from loadrun.formats import describe, load_model
from loadrun.ir.reference import execute


@pytest.mark.parametrize("model_dir", model_params())
def test_reference_matches_megengine(model_dir):
    graph = load_model(model_dir / "model.mge")
    meta = json.loads((model_dir / "meta.json").read_text())
    assert graph.input_names() == [i["name"] for i in meta["inputs"]]
    assert len(graph.outputs) == len(meta["outputs"])
    x = np.load(model_dir / "input.npy")
    outs = execute(graph, {graph.input_names()[0]: x})
    refs = reference_outputs(model_dir)
    assert len(outs) == len(refs)
    for got, ref in zip(outs, refs):
        assert max_rel_error(got, ref) <= TOLERANCE


@pytest.mark.parametrize("model_dir", model_params())
def test_describe_matches_meta(model_dir):
    info = describe(model_dir / "model.mge")
    meta = json.loads((model_dir / "meta.json").read_text())
    assert info["mge_version"] == "1.13.0"
    assert info["container"] == "v2"
    assert [i["shape"] for i in info["inputs"]] == [i["shape"] for i in meta["inputs"]]
    assert [o["shape"] for o in info["outputs"]] == [o["shape"] for o in meta["outputs"]]
    if "flops" in meta:
        assert info["flops"] == meta["flops"]
    # Constants that feed computation, after folding: never more than what the file stores.
    assert info["params"] <= meta.get("graph_constant_elements", info["params"])
    assert sum(info["mge_operators"].values()) == meta.get("mge_num_oprs", sum(info["mge_operators"].values()))


def test_type_ids_follow_the_xxh64_rule():
    from loadrun.formats.mge import read_file
    from loadrun.formats.mge_schema import type_id_v2
    from loadrun.formats.flatbuf import root_table
    import struct
    dirs = [p.values[0] for p in model_params() if p.values[0] is not None]
    if not dirs:
        pytest.skip("the shared MegEngine models are not present")
    data = (dirs[-1] / "model.mge").read_bytes()
    size = struct.unpack_from("<I", data, 0)[0]
    model = root_table(memoryview(data)[4:4 + size])
    seen = 0
    for op in model.tables(2):
        registered = op.string(0).decode()
        assert op.scalar(1, "u64") == type_id_v2(registered, op.scalar(12, "u32")), registered
        seen += 1
    assert seen > 0
    assert read_file(str(dirs[-1] / "model.mge")).oprs
