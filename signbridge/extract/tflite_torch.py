"""Run a TFLite model's float graph in PyTorch, so MediaPipe's own models can be batched on a GPU.

The models are read from the files the installed mediapipe wheel ships (nothing is downloaded or copied
into the repository). The flatbuffer is parsed with the ``tflite`` schema package; constant sub-graphs
(fp16 ``DEQUANTIZE``, sparse ``DENSIFY``) are folded at load time, and the remaining operators become a
list of torch calls over NCHW tensors. Only the operators MediaPipe's Holistic models use are supported;
any other is refused at load time with the operator's name, never mid-run.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

# tflite.TensorType values
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8, 7: np.int16}
_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


class UnsupportedModel(ValueError):
    pass


def _activation(code: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A fused activation, applied in place: it only ever gets the fresh output of its own operator, so
    this saves a tensor's allocation per layer (and on a GPU the memory it would be written to)."""
    if code == 0:
        return lambda x: x
    if code == 1:
        return torch.relu_
    if code == 2:
        return lambda x: x.clamp_(-1.0, 1.0)
    if code == 3:
        return lambda x: x.clamp_(0.0, 6.0)
    if code == 4:
        return torch.tanh_
    raise UnsupportedModel(f"fused activation {code}")


def _same_pad(size: int, k: int, stride: int, dil: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (k - 1) * dil + 1 - size, 0)
    return total // 2, total - total // 2


def _densify(values: np.ndarray, shape: list[int], sp: Any) -> np.ndarray:
    """TFLite's sparse tensor format (traversal order, block map, dense / CSR levels) to a dense array."""
    order = sp.TraversalOrderAsNumpy().tolist()
    block_map = sp.BlockMapAsNumpy().tolist() if sp.BlockMapLength() else []
    n = len(shape)
    ids = np.zeros(1, dtype=np.int64)
    coords = np.zeros((1, 0), dtype=np.int64)
    for level in range(sp.DimMetadataLength()):
        dm = sp.DimMetadata(level)
        if dm.Format() == 0:  # DENSE
            ds = dm.DenseSize()
            col = np.tile(np.arange(ds), len(ids))
            coords = np.repeat(coords, ds, axis=0)
            ids = (ids[:, None] * ds + np.arange(ds)[None, :]).ravel()
        else:  # SPARSE_CSR
            seg, idx = _union_vector(dm, "ArraySegments"), _union_vector(dm, "ArrayIndices")
            starts, ends = seg[ids], seg[ids + 1]
            counts = ends - starts
            coords = np.repeat(coords, counts, axis=0)
            ids = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if len(ids) else ids
            col = idx[ids]
        coords = np.column_stack([coords, col])
    expanded = np.zeros((len(ids), len(order)), dtype=np.int64)
    for level, dim in enumerate(order):
        expanded[:, dim] = coords[:, level]
    orig = expanded[:, :n].copy()
    for k, dim in enumerate(block_map):
        block = sp.DimMetadata(order.index(n + k)).DenseSize()
        orig[:, dim] = expanded[:, dim] * block + expanded[:, n + k]
    dense = np.zeros(shape, dtype=values.dtype)
    dense[tuple(orig.T)] = values[ids]
    return dense


def _union_vector(dm: Any, name: str) -> np.ndarray:
    import tflite

    kind = getattr(dm, name + "Type")()
    table = getattr(dm, name)()
    cls = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}[kind]
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def _options(op: Any, cls_name: str) -> Any:
    import tflite

    table = op.BuiltinOptions()
    opt = getattr(tflite, cls_name)()
    if table is not None:
        opt.Init(table.Bytes, table.Pos)
    return opt


@dataclass
class _Step:
    name: str
    inputs: list[int]
    outputs: list[int]
    fn: Callable[..., torch.Tensor]


class TFLiteModule(torch.nn.Module):
    """One TFLite model as a torch module: ``forward(x)`` takes NHWC float input of any batch size and returns
    the model's outputs (4-D ones NHWC again), in the file's output order."""

    def __init__(self, path: str | Path, outputs: list[str] | None = None):
        super().__init__()
        import tflite

        self.path = str(path)
        data = Path(path).read_bytes()
        model = tflite.Model.GetRootAsModel(data, 0)
        g = model.Subgraphs(0)
        opnames = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
        tensors = [g.Tensors(i) for i in range(g.TensorsLength())]
        self.tensor_names = [t.Name().decode() for t in tensors]
        shapes = [t.ShapeAsNumpy().tolist() if t.ShapeLength() else [] for t in tensors]
        consts: dict[int, np.ndarray] = {}
        for i, t in enumerate(tensors):
            buf = model.Buffers(t.Buffer())
            if buf is not None and buf.DataLength():
                dtype = _DTYPES[t.Type()]
                arr = buf.DataAsNumpy().view(dtype)
                sp = t.Sparsity()
                consts[i] = _densify(arr, shapes[i], sp) if sp is not None else arr.reshape(shapes[i])
        self.input_ids = [g.Inputs(i) for i in range(g.InputsLength())]
        all_outputs = [g.Outputs(i) for i in range(g.OutputsLength())]
        if outputs is not None:
            by_name = {self.tensor_names[i]: i for i in all_outputs}
            missing = [o for o in outputs if o not in by_name]
            if missing:
                raise UnsupportedModel(f"{path}: no output tensor named {missing}")
            all_outputs = [by_name[o] for o in outputs]
        self.output_ids = all_outputs
        self.shapes = shapes
        ops = []
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            oc = model.OperatorCodes(op.OpcodeIndex())
            name = opnames.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "?")
            if name == "CUSTOM":
                name = "CUSTOM:" + oc.CustomCode().decode()
            ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
            outs = [int(i) for i in op.OutputsAsNumpy()]
            ops.append((name, op, ins, outs))
        # fold constant operators (fp16 weights, sparse weights)
        for name, op, ins, outs in ops:
            if name in ("DEQUANTIZE", "DENSIFY") and ins[0] in consts:
                consts[outs[0]] = consts[ins[0]].astype(np.float32) if name == "DEQUANTIZE" else consts[ins[0]]
        ops = self._fold_spatial_pads(ops, consts)
        # keep only what the wanted outputs need
        needed = set(self.output_ids)
        keep = []
        for name, op, ins, outs in reversed(ops):
            if any(o in needed for o in outs) and not all(o in consts for o in outs):
                keep.append((name, op, ins, outs))
                needed.update(i for i in ins if i >= 0 and i not in consts)
        keep.reverse()
        self._params = torch.nn.ParameterList()
        self._steps: list[_Step] = []
        for name, op, ins, outs in keep:
            self._steps.append(self._build(name, op, ins, outs, consts, shapes))

    def _fold_spatial_pads(self, ops: list, consts: dict[int, np.ndarray]) -> list:
        """A symmetric spatial PAD read only by VALID convolutions becomes those convolutions' own zero padding:
        the same values without writing a padded copy of a whole activation (the pose models pad their
        128x128x64 maps this way before each stride-2 layer)."""
        self._extra_pad: dict[int, tuple[int, int]] = {}
        readers: dict[int, list[int]] = {}
        for k, (_name, _op, ins, _outs) in enumerate(ops):
            for i in ins:
                readers.setdefault(i, []).append(k)
        ops = list(ops)
        for name, _op, ins, outs in list(ops):
            if name != "PAD" or ins[1] not in consts or outs[0] in self.output_ids:
                continue
            p = consts[ins[1]].astype(np.int64).reshape(-1, 2)
            if p.shape != (4, 2) or p[0].any() or p[3].any() or p[1, 0] != p[1, 1] or p[2, 0] != p[2, 1]:
                continue
            users = readers.get(outs[0], [])
            if not users or not all(
                    ops[k][0] in ("CONV_2D", "DEPTHWISE_CONV_2D") and ops[k][2][0] == outs[0]
                    and _options(ops[k][1], "Conv2DOptions" if ops[k][0] == "CONV_2D"
                                 else "DepthwiseConv2DOptions").Padding() == 1 for k in users):
                continue
            for k in users:
                uname, uop, uins, uouts = ops[k]
                ops[k] = (uname, uop, [ins[0], *uins[1:]], uouts)
                self._extra_pad[uouts[0]] = (int(p[1, 0]), int(p[2, 0]))
        return ops

    def _const(self, arr: np.ndarray) -> torch.nn.Parameter:
        p = torch.nn.Parameter(torch.from_numpy(np.array(arr, dtype=np.float32, copy=True)), requires_grad=False)
        self._params.append(p)
        return p

    def _build(self, name: str, op: Any, ins: list[int], outs: list[int], consts: dict[int, np.ndarray],
               shapes: list[list[int]]) -> _Step:
        """One operator as a torch call on NCHW tensors.

        Long because it is one branch per TFLite operator, each a few lines that share the layout rules (NHWC
        axes mapped to NCHW, TF's SAME padding); a table of builders would spread those rules over many places."""
        data_in = [i for i in ins if i >= 0 and i not in consts]
        in_shape = shapes[ins[0]]
        out_shape = shapes[outs[0]]

        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            o = _options(op, "Conv2DOptions" if name == "CONV_2D" else "DepthwiseConv2DOptions")
            w = consts[ins[1]]
            if name == "CONV_2D":
                weight = self._const(w.transpose(0, 3, 1, 2))  # OHWI -> OIHW
                groups = 1
            else:
                weight = self._const(w[0].transpose(2, 0, 1).reshape(w.shape[3], 1, w.shape[1], w.shape[2]))
                groups = in_shape[3]
            bias = self._const(consts[ins[2]]) if len(ins) > 2 and ins[2] >= 0 else None
            sh, sw = o.StrideH(), o.StrideW()
            dh, dw = o.DilationHFactor() or 1, o.DilationWFactor() or 1
            kh, kw = w.shape[1], w.shape[2]
            pad = (0, 0, 0, 0)
            if o.Padding() == 0:
                ph = _same_pad(in_shape[1], kh, sh, dh)
                pw = _same_pad(in_shape[2], kw, sw, dw)
                pad = (pw[0], pw[1], ph[0], ph[1])
            elif outs[0] in self._extra_pad:  # a PAD folded in (_fold_spatial_pads)
                eh, ew = self._extra_pad[outs[0]]
                pad = (ew, ew, eh, eh)
            act = _activation(o.FusedActivationFunction())
            sym = pad[0] == pad[1] and pad[2] == pad[3]

            def conv(x, weight=weight, bias=bias, pad=pad, sym=sym):
                if sym:
                    return act(F.conv2d(x, weight, bias, (sh, sw), (pad[2], pad[0]), (dh, dw), groups))
                return act(F.conv2d(F.pad(x, pad), weight, bias, (sh, sw), 0, (dh, dw), groups))
            return _Step(name, data_in, outs, conv)

        if name == "ADD":
            o = _options(op, "AddOptions")
            act = _activation(o.FusedActivationFunction())
            const = {j: self._nchw_const(consts[i]) for j, i in enumerate(ins) if i in consts}
            if const:
                c = next(iter(const.values()))
                return _Step(name, data_in, outs, lambda x, c=c: act(x + c))
            return _Step(name, data_in, outs, lambda a, b: act(a + b))

        if name == "PRELU":
            alpha = consts[ins[1]].astype(np.float32)
            if len(in_shape) == 4 and alpha.ndim >= 1 and alpha.size == alpha.shape[-1]:  # per channel: torch's one-kernel PReLU
                w = self._const(alpha.reshape(-1))
                return _Step(name, data_in, outs, lambda x, w=w: F.prelu(x, w))
            a = self._nchw_const(alpha)
            return _Step(name, data_in, outs, lambda x, a=a: torch.where(x >= 0, x, x * a))

        if name == "LOGISTIC":
            return _Step(name, data_in, outs, torch.sigmoid)

        if name == "RELU":
            return _Step(name, data_in, outs, F.relu)

        if name == "PAD":
            p = consts[ins[1]].astype(np.int64)
            if len(in_shape) != 4 or p[0].any():
                raise UnsupportedModel("PAD other than spatial/channel padding of a 4-D tensor")
            # torch pad order: last dim first; NCHW -> (W, H, C)
            tp = (int(p[2][0]), int(p[2][1]), int(p[1][0]), int(p[1][1]), int(p[3][0]), int(p[3][1]))
            return _Step(name, data_in, outs, lambda x, tp=tp: F.pad(x, tp))

        if name == "MAX_POOL_2D":
            o = _options(op, "Pool2DOptions")
            kh, kw, sh, sw = o.FilterHeight(), o.FilterWidth(), o.StrideH(), o.StrideW()
            act = _activation(o.FusedActivationFunction())
            if o.Padding() == 0:
                ph = _same_pad(in_shape[1], kh, sh, 1)
                pw = _same_pad(in_shape[2], kw, sw, 1)
                pad = (pw[0], pw[1], ph[0], ph[1])
            else:
                pad = (0, 0, 0, 0)

            def pool(x, pad=pad):
                if any(pad):
                    x = F.pad(x, pad, value=float("-inf"))
                return act(F.max_pool2d(x, (kh, kw), (sh, sw)))
            return _Step(name, data_in, outs, pool)

        if name == "RESIZE_BILINEAR":
            o = _options(op, "ResizeBilinearOptions")
            size = [int(v) for v in consts[ins[1]]]
            if o.AlignCorners():
                return _Step(name, data_in, outs, lambda x: F.interpolate(x, size=size, mode="bilinear",
                                                                          align_corners=True))
            if o.HalfPixelCenters():
                return _Step(name, data_in, outs, lambda x: F.interpolate(x, size=size, mode="bilinear",
                                                                          align_corners=False))
            # legacy TF resize: source = dest * (in / out), no half-pixel offset
            return _Step(name, data_in, outs, functools.partial(_resize_legacy, size=size))

        if name == "DEPTH_TO_SPACE":
            b = _options(op, "DepthToSpaceOptions").BlockSize()

            def d2s(x, b=b):
                n, c, h, w = x.shape
                x = x.permute(0, 2, 3, 1).reshape(n, h, w, b, b, c // (b * b))
                x = x.permute(0, 1, 3, 2, 4, 5).reshape(n, h * b, w * b, c // (b * b))
                return x.permute(0, 3, 1, 2)
            return _Step(name, data_in, outs, d2s)

        if name == "CONCATENATION":
            o = _options(op, "ConcatenationOptions")
            act = _activation(o.FusedActivationFunction())
            axis = o.Axis() % len(in_shape)
            if len(in_shape) == 4:
                axis = _NHWC_TO_NCHW_AXIS[axis]
            return _Step(name, data_in, outs, lambda *xs, axis=axis: act(torch.cat(xs, dim=axis)))

        if name == "RESHAPE":
            tgt = list(out_shape)

            def reshape(x, tgt=tgt):
                if x.dim() == 4:
                    x = x.permute(0, 2, 3, 1)
                y = x.reshape([x.shape[0]] + tgt[1:])
                return y.permute(0, 3, 1, 2) if y.dim() == 4 else y
            return _Step(name, data_in, outs, reshape)

        if name == "MEAN":
            axes = [int(a) % len(in_shape) for a in np.atleast_1d(consts[ins[1]])]
            keep = bool(_options(op, "ReducerOptions").KeepDims())
            if len(in_shape) == 4:
                axes_t = [_NHWC_TO_NCHW_AXIS[a] for a in axes]
            else:
                axes_t = axes
            if len(in_shape) == 4 and not keep and sorted(axes) != [1, 2]:
                raise UnsupportedModel("MEAN over axes other than the spatial ones")

            def mean(x, axes_t=axes_t, keep=keep):
                return x.mean(dim=axes_t, keepdim=keep)
            return _Step(name, data_in, outs, mean)

        if name == "FULLY_CONNECTED":
            o = _options(op, "FullyConnectedOptions")
            act = _activation(o.FusedActivationFunction())
            weight = self._const(consts[ins[1]])
            bias = self._const(consts[ins[2]]) if len(ins) > 2 and ins[2] >= 0 else None

            def fc(x, weight=weight, bias=bias):
                if x.dim() == 4:
                    x = x.permute(0, 2, 3, 1)
                return act(F.linear(x.reshape(x.shape[0], -1), weight, bias))
            return _Step(name, data_in, outs, fc)

        if name == "STRIDED_SLICE":
            o = _options(op, "StridedSliceOptions")
            begin, end, strides = (consts[i].astype(np.int64).tolist() for i in ins[1:4])
            if o.EllipsisMask() or o.NewAxisMask() or o.ShrinkAxisMask():
                raise UnsupportedModel("STRIDED_SLICE with ellipsis, new-axis or shrink masks")
            sl = []
            for d in range(len(in_shape)):
                b = None if (o.BeginMask() >> d) & 1 or d == 0 else begin[d]
                e = None if (o.EndMask() >> d) & 1 or d == 0 else end[d]
                sl.append(slice(b, e, strides[d]))

            def strided(x, sl=tuple(sl)):
                if x.dim() == 4:
                    return x.permute(0, 2, 3, 1)[sl].permute(0, 3, 1, 2)
                return x[sl]
            return _Step(name, data_in, outs, strided)

        raise UnsupportedModel(f"{self.path}: operator {name} is not supported by the GPU extractor")

    def _nchw_const(self, arr: np.ndarray) -> torch.Tensor:
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim >= 1 and arr.ndim <= 4:
            # a per-channel vector (last axis = C in NHWC) broadcasts over NCHW as (C, 1, 1)
            c = arr.shape[-1]
            if arr.size == c:
                return self._const(arr.reshape(c, 1, 1))
            if arr.ndim == 4:
                return self._const(arr.transpose(0, 3, 1, 2))
            if arr.ndim == 3:
                return self._const(arr.transpose(2, 0, 1))
        return self._const(arr)

    def forward(self, *inputs: torch.Tensor, layout: str = "nhwc") -> list[torch.Tensor]:
        """``layout="nchw"``: 4-D inputs are already NCHW (crops made that way), saving two transposes."""
        values: dict[int, torch.Tensor] = {}
        for tid, x in zip(self.input_ids, inputs):
            values[tid] = x.permute(0, 3, 1, 2) if x.dim() == 4 and layout == "nhwc" else x
        for step in self._steps:
            out = step.fn(*(values[i] for i in step.inputs))
            values[step.outputs[0]] = out
        res = []
        for tid in self.output_ids:
            y = values[tid]
            res.append(y.permute(0, 2, 3, 1) if y.dim() == 4 else y)
        return res


def _resize_legacy(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    n, c, h, w = x.shape
    oh, ow = size
    # source coordinates in float32 even for fp16 maps: half precision would pick the wrong neighbour
    ys = torch.arange(oh, device=x.device, dtype=torch.float32) * (h / oh)
    xs = torch.arange(ow, device=x.device, dtype=torch.float32) * (w / ow)
    y0 = ys.floor().long().clamp(max=h - 1)
    x0 = xs.floor().long().clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    x1 = (x0 + 1).clamp(max=w - 1)
    fy = (ys - y0.float()).to(x.dtype).view(1, 1, oh, 1)
    fx = (xs - x0.float()).to(x.dtype).view(1, 1, 1, ow)
    top = x[:, :, y0][:, :, :, x0] * (1 - fx) + x[:, :, y0][:, :, :, x1] * fx
    bot = x[:, :, y1][:, :, :, x0] * (1 - fx) + x[:, :, y1][:, :, :, x1] * fx
    return top * (1 - fy) + bot * fy
