"""Run a .mge model with MegEngine Lite 1.13; a helper for the tests, not part of loadrun.

usage (MegEngine's Python 3.10 venv, see ../shared/peers/setup.sh):
  python mge_run.py MODEL INPUTS.npz OUTPUTS.npz [--decrypt AES_default]

INPUTS.npz holds one array per graph input (by name); OUTPUTS.npz gets one array per output, in
order, as out0, out1, ... plus the output names in "__names__". Not part of loadrun: the tests
call it through the interpreter named by $LOADRUN_MGE_PYTHON when that is set.
"""
import argparse

import numpy as np


def run_lite(path, feeds, decrypt):
    from megenginelite import LiteConfig, LiteNetwork
    config = LiteConfig()
    if decrypt:
        config.bare_model_cryption_name = decrypt
    net = LiteNetwork(config=config)
    net.load(path)
    for i in range(len(net.get_all_input_name())):
        name = net.get_input_name(i)
        net.get_io_tensor(name).set_data_by_copy(np.ascontiguousarray(feeds[name]))
    net.forward()
    net.wait()
    names = list(net.get_all_output_name())
    return names, [net.get_io_tensor(n).to_numpy().copy() for n in names]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("inputs")
    ap.add_argument("outputs")
    ap.add_argument("--decrypt", default=None)
    a = ap.parse_args()
    feeds = dict(np.load(a.inputs))
    names, outs = run_lite(a.model, feeds, a.decrypt)
    np.savez(a.outputs, __names__=np.array(names), **{f"out{i}": o for i, o in enumerate(outs)})


if __name__ == "__main__":
    main()
