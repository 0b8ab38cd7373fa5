"""Dump the small MegEngine 1.13 test models in this folder, with MegEngine's own outputs.

Runs only under MegEngine 1.13's Python 3.10 (``H=$(bash ../shared/peers/setup.sh)``; the packed
model also needs ``$H/venv-mge/bin/pip install flatbuffers``):

    $H/venv-mge/bin/python tests/data/mge/make_models.py

For each NAME it writes ``NAME.mge`` and ``NAME.npz`` (inputs as ``in__<input name>``, MegEngine's
outputs in order as ``out__<k>``, options as ``meta__decrypt``). Outputs come from running the
dumped file with MegEngine Lite where Lite can load it, and from the traced function otherwise
(``mgbtest0`` files); both are compared when both exist. Seeds are fixed, but MegEngine's var ids
in names may change between runs, so regenerated files need not be byte-identical.
"""
import os
import struct
import sys

import numpy as np

import megengine as mge
import megengine.functional as F
import megengine.module as M
from megengine.jit import trace

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.RandomState(20240521)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def lite_run(path, feeds, decrypt=None):
    from megenginelite import LiteConfig, LiteNetwork
    config = LiteConfig()
    if decrypt:
        config.bare_model_cryption_name = decrypt
    net = LiteNetwork(config=config)
    net.load(path)
    for name, arr in feeds.items():
        net.get_io_tensor(name).set_data_by_copy(np.ascontiguousarray(arr))
    net.forward()
    net.wait()
    return [net.get_io_tensor(n).to_numpy().copy() for n in net.get_all_output_name()]


def save(name, feeds, outs, meta=None):
    arrays = {f"in__{k}": v for k, v in feeds.items()}
    arrays.update({f"out__{i}": np.asarray(o) for i, o in enumerate(outs)})
    for k, v in (meta or {}).items():
        arrays[f"meta__{k}"] = np.array(v)
    np.savez_compressed(os.path.join(HERE, f"{name}.npz"), **arrays)


def dump(name, fn, feeds, *, optimize=True, lite=True, **kw):
    """Trace ``fn`` on ``feeds`` (ordered dict name -> array), dump NAME.mge, save the outputs."""
    names = list(feeds)
    traced = trace(symbolic=True, capture_as_const=True)(fn)
    ref = traced(*[mge.tensor(feeds[n]) for n in names])
    ref = [r.numpy() for r in (ref if isinstance(ref, (list, tuple)) else [ref])]
    path = os.path.join(HERE, f"{name}.mge")
    traced.dump(path, arg_names=names, output_names=[f"out{i}" for i in range(len(ref))],
                optimize_for_inference=optimize, **kw)
    outs = ref
    if lite:
        outs = lite_run(path, feeds)
        for a, b in zip(outs, ref):
            assert a.shape == b.shape and np.allclose(a, b, atol=1e-5), name
    save(name, feeds, outs)
    print(f"{name}: {os.path.getsize(path)} bytes, {len(outs)} outputs")
    return path, outs


def main():
    x = randn(2, 5, 7)
    dump("argmax_argmin", lambda x: (F.argmax(x, axis=1), F.argmin(x, axis=2, keepdims=True)), {"x": x})

    x = randn(3, 8)
    dump("argsort", lambda x: F.sort(x, descending=True), {"x": x})
    dump("argsort_ascending", lambda x: F.argsort(x), {"x": x})

    x = randn(3, 10)
    dump("topk", lambda x: (*F.topk(x, 3, descending=True), F.topk(x, 4, kth_only=True)[0]), {"x": x})

    x = randn(7)
    # Unoptimized so Linspace stays in the file; Lite cannot load that ("invalid comp node id").
    dump("linspace", lambda x: x * F.linspace(-1.0, 2.0, 7), {"x": x}, optimize=False, lite=False)

    x = randn(3, 5)
    idx = np.array([4, 0, 2], np.int32)
    dump("indexing_one_hot", lambda x, i: F.indexing_one_hot(x, i, axis=1, keepdims=True) * 2,
         {"x": x, "idx": idx})

    x = randn(3, 6)
    dump("cumsum", lambda x: (F.cumsum(x, axis=1), F.cumsum(x, axis=0)), {"x": x})

    x = randn(1, 2, 8, 8)
    mat = np.array([[[0.9, 0.1, 0.4], [-0.1, 1.1, 0.2], [0.001, 0.002, 1.0]]], np.float32)
    dump("warp_perspective", lambda x, m: F.vision.warp_perspective(x, m, (6, 7)), {"x": x, "mat": mat})

    x = randn(1, 3, 9, 11)
    dump("adaptive_pooling", lambda x: (F.adaptive_avg_pool2d(x, (3, 4)), F.adaptive_max_pool2d(x, (2, 2))),
         {"x": x})

    bn = M.BatchNorm2d(4)
    bn.running_mean[...] = mge.tensor(randn(1, 4, 1, 1))
    bn.running_var[...] = mge.tensor(np.abs(randn(1, 4, 1, 1)) + 0.5)
    bn.weight[...] = mge.tensor(randn(1, 4, 1, 1))
    bn.bias[...] = mge.tensor(randn(1, 4, 1, 1))
    bn.eval()
    dump("batchnorm_unfused", lambda x: F.relu(bn(x)), {"x": randn(2, 4, 5, 5)}, optimize=False)

    deconv = M.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
    deconv.weight[...] = mge.tensor(randn(*deconv.weight.shape, scale=0.3))
    deconv.bias[...] = mge.tensor(randn(*deconv.bias.shape))
    dump("deconv_groups", lambda x: deconv(x), {"x": randn(1, 4, 5, 5)})

    c1 = M.Conv2d(3, 4, 3, dilation=2, padding=2)
    c2 = M.Conv2d(4, 4, 3, dilation=(1, 3), padding=(1, 3), groups=4)
    for c in (c1, c2):
        c.weight[...] = mge.tensor(randn(*c.weight.shape, scale=0.3))
        c.bias[...] = mge.tensor(randn(*c.bias.shape))
    dump("conv_dilation", lambda x: c2(F.relu(c1(x))), {"x": randn(1, 3, 9, 9)})

    x = randn(1, 2, 7, 9)
    dump("avg_pooling_modes",
         lambda x: (F.avg_pool2d(x, 3, stride=2, padding=1, mode="average"),
                    F.avg_pool2d(x, 3, stride=2, padding=1, mode="average_count_exclude_padding"),
                    F.max_pool2d(x, (2, 3), stride=(1, 2), padding=(1, 1))), {"x": x})

    x = randn(1, 2, 5, 6)
    dump("resize_nearest",
         lambda x: (F.vision.interpolate(x, size=(7, 9), mode="nearest"),
                    F.vision.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)), {"x": x})

    conv = M.Conv2d(3, 4, 3, padding=1)
    conv.weight[...] = mge.tensor(randn(*conv.weight.shape, scale=0.3))
    conv.bias[...] = mge.tensor(randn(*conv.bias.shape))

    def small_net(x):
        return F.softmax(F.flatten(F.adaptive_avg_pool2d(F.relu(conv(x)), (1, 1)), 1), axis=1)

    x = randn(1, 3, 6, 6)
    dump("v1_fbs", small_net, {"x": x}, dump_format="FBS")
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), x)
        dump("mgbtest0", small_net, {"x": x}, lite=False, input_data=[f"x:{tmp}/x.npy"])
    path, outs = dump("bare_for_wrapping", small_net, {"x": x})
    bare = open(path, "rb").read()
    os.remove(path)
    os.remove(os.path.join(HERE, "bare_for_wrapping.npz"))

    packed = os.path.join(HERE, "packed_model.mge")
    open(packed, "wb").write(pack_model(bare, "small_net"))
    got = lite_run(packed, {"x": x})
    assert np.allclose(got[0], outs[0], atol=1e-6)
    save("packed_model", {"x": x}, got)
    print(f"packed_model: {os.path.getsize(packed)} bytes")

    enc = os.path.join(HERE, "aes_default.mge")
    open(enc, "wb").write(aes_default_encrypt(bare))
    got = lite_run(enc, {"x": x}, decrypt="AES_default")
    assert np.allclose(got[0], outs[0], atol=1e-6)
    save("aes_default", {"x": x}, got, {"decrypt": "AES_default"})
    print(f"aes_default: {os.path.getsize(enc)} bytes")


def pack_model(model: bytes, name: str) -> bytes:
    """A Lite packed_model (lite/tools/pack_model/pack_model_and_info.py's slot order), no info."""
    import json

    import flatbuffers
    b = flatbuffers.Builder(len(model) + 1024)
    info = json.dumps({"valid": True, "name": name, "version": "1.13.0", "has_compression": False,
                       "backend": "MGE"}).encode()
    data_vec = b.CreateByteVector(model)
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, data_vec, 0)
    model_data = b.EndObject()
    info_vec = b.CreateByteVector(info)
    b.StartObject(3)
    b.PrependUOffsetTRelativeSlot(0, info_vec, 0)
    model_info = b.EndObject()
    strs = [b.CreateString(s) for s in (name, "NONE", "LITE_default", "NONE", "NONE")]
    b.StartObject(6)
    for slot, s in enumerate(strs):
        b.PrependUOffsetTRelativeSlot(slot, s, 0)
    header = b.EndObject()
    b.StartObject(3)
    b.PrependUOffsetTRelativeSlot(0, header, 0)
    b.PrependUOffsetTRelativeSlot(1, model_info, 0)
    b.PrependUOffsetTRelativeSlot(2, model_data, 0)
    m = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(m)
    models = b.EndVector()
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, models, 0)
    root = b.EndObject()
    b.Finish(root)
    return b"packed_model" + bytes(b.Output())


def aes_default_encrypt(plain: bytes) -> bytes:
    """Lite's AES_default: IV | AES-256-CBC(PKCS#7) with key 00..1f | uint64 BE plaintext length."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    iv = bytes(rng.randint(0, 256, 16).astype(np.uint8))
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(bytes(range(32))), modes.CBC(iv)).encryptor()
    return iv + enc.update(padded) + enc.finalize() + struct.pack(">Q", len(plain))


if __name__ == "__main__":
    sys.exit(main())
