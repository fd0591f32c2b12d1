"""Make a VITS/piper voice reproducible: its noise becomes a function of the sentence, not of the process.

A piper voice draws Gaussian noise inside the ONNX graph (``RandomNormalLike``: the stochastic
duration predictor and the flow prior). onnxruntime seeds each such kernel once, when the session
is created, so the same sentence came out different on every call and in every process, and with it
``narration.wav`` and ``video.mp4``. Here each ``RandomNormalLike`` node is replaced by a counter-based
generator (a sine hash per element, Box-Muller to a normal) seeded by the sentence's phoneme ids: the
same sentence always gets the same noise, different sentences get different noise, and the voice's
noise scales act on it exactly as before.
"""
from __future__ import annotations

import math

SEED_INPUT = "input"  # piper's phoneme-id input: the per-sentence seed is derived from it
SEED = "sb_seed"


def _seed_nodes() -> list:
    """``sb_seed`` = sum(ids) * (1 + len(ids)), in double precision."""
    from onnx import TensorProto, helper

    return [
        helper.make_node("Cast", [SEED_INPUT], ["sb_seed_ids"], to=TensorProto.DOUBLE),
        helper.make_node("ReduceSum", ["sb_seed_ids"], ["sb_seed_sum"], keepdims=0),
        helper.make_node("Shape", [SEED_INPUT], ["sb_seed_shape"]),
        helper.make_node("ReduceProd", ["sb_seed_shape"], ["sb_seed_n"], keepdims=0),
        helper.make_node("Cast", ["sb_seed_n"], ["sb_seed_len"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["sb_seed_len", "sb_seed_sum"], ["sb_seed_mix"]),
        helper.make_node("Add", ["sb_seed_sum", "sb_seed_mix"], [SEED]),
    ]


def _noise_nodes(p: str, like: str, out: str, dtype: int) -> list:
    """Nodes computing a standard-normal tensor shaped like ``like`` into ``out`` (names prefixed ``p``)."""
    from onnx import TensorProto, helper

    consts = {"zero": 0.0, "one": 1.0, "k1": 12.9898, "k2": 78.233, "big": 43758.5453, "golden": 0.6180339887,
              "eps": 1e-12, "m2": -2.0, "tau": 2 * math.pi}
    nodes = [helper.make_node("Constant", [], [p + k], value=helper.make_tensor(p + k + "_v", TensorProto.DOUBLE,
                                                                                 [], [v])) for k, v in consts.items()]

    def op(kind: str, ins: list[str], o: str, **kw) -> None:
        nodes.append(helper.make_node(kind, ins, [o], **kw))

    op("Shape", [like], p + "shape")
    op("ReduceProd", [p + "shape"], p + "count", keepdims=0)
    op("Cast", [p + "count"], p + "count_d", to=TensorProto.DOUBLE)
    op("Range", [p + "zero", p + "count_d", p + "one"], p + "idx")
    op("Mul", [SEED, p + "golden"], p + "s1")
    op("Neg", [p + "s1"], p + "s2")
    for k in ("1", "2"):  # two hashes with different multipliers and seeds: the Box-Muller pair
        op("Mul", [p + "idx", p + "k" + k], p + "a" + k)
        op("Add", [p + "a" + k, p + "s" + k], p + "b" + k)
        op("Sin", [p + "b" + k], p + "sin" + k)
        op("Mul", [p + "sin" + k, p + "big"], p + "h" + k)
        op("Floor", [p + "h" + k], p + "f" + k)
        op("Sub", [p + "h" + k, p + "f" + k], p + "u" + k)
    op("Add", [p + "u1", p + "eps"], p + "u1e")
    op("Log", [p + "u1e"], p + "log")
    op("Mul", [p + "log", p + "m2"], p + "r2")
    op("Sqrt", [p + "r2"], p + "r")
    op("Mul", [p + "u2", p + "tau"], p + "theta")
    op("Cos", [p + "theta"], p + "cos")
    op("Mul", [p + "r", p + "cos"], p + "z")
    op("Reshape", [p + "z", p + "shape"], p + "zs")
    op("Cast", [p + "zs"], out, to=dtype)
    return nodes


def seed_voice_noise(model_bytes: bytes) -> bytes:
    """The voice model with its ``RandomNormalLike`` nodes replaced by sentence-seeded noise."""
    import onnx
    from onnx import TensorProto

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    if SEED_INPUT not in {i.name for i in graph.input}:
        return model_bytes  # not piper's input layout: leave the model as it is
    nodes, replaced = _seed_nodes(), 0
    for node in graph.node:
        if node.op_type == "RandomNormalLike":
            dtype = next((a.i for a in node.attribute if a.name == "dtype"), TensorProto.FLOAT)
            nodes += _noise_nodes(f"sb_noise{replaced}_", node.input[0], node.output[0], dtype)
            replaced += 1
        else:
            nodes.append(node)
    if not replaced:
        return model_bytes
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()
