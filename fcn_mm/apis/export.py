"""ONNX export of a segmentor, whole: normalisation in, aligned logits out.

The graph takes what ``LoadImageFromFile`` gives (BGR, 0-255), as float32
``image`` (N, 3, H, W) with N, H and W dynamic, applies the config's
``data_preprocessor`` (colour conversion, mean and std) and returns
``logits`` (N, num_classes, H, W) aligned with the input exactly as
``model.predict`` aligns them (the Caffe-exact FCN crop at 19/27/31, the
resize of FastFCN's stride-8 maps), and optionally ``labels``, their argmax.
EncNet's ``Encoding`` is exported as :class:`.fast_layers.MatmulEncoding`.
As mmdeploy does for mmseg, the graph is the model's whole-image inference
(``encode_decode``); the test pipeline's resize stays outside, in
:mod:`fcn_mm.apis.onnx_inference`.

Exported with torch's ``torch.export``-based exporter; because an exporter can
quietly fix a dimension it was told is dynamic, :func:`check_onnx` runs the
saved graph at sizes other than the export size and compares it with PyTorch,
with a tolerance derived from a float64 run (:mod:`fcn_mm.numerics`).
"""
import logging
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmseg.models.segmentors import EncoderDecoder
from torch import Tensor
from torch.export import Dim

from fcn_mm.fileio import atomic_write
from fcn_mm.numerics import (compare_with_float64, float64_copy,
                             max_abs_error)
from .export_pooling import size_agnostic_pooling
from .fast_layers import matmul_encoding

# torch's exporter logs one warning per torchvision op it cannot register;
# fcn_mm's graphs use none, and torchvision stays out of the CPU environment.
logging.getLogger('torch.onnx._internal.exporter._registration').setLevel(
    logging.ERROR)

__all__ = [
    'DEFAULT_OPSET', 'SegmentorForExport', 'check_onnx', 'check_sizes',
    'export_onnx', 'onnx_session', 'save_onnx'
]

DEFAULT_OPSET = 18


class SegmentorForExport(nn.Module):
    """A segmentor as one tensor function: raw image in, aligned logits out.

    Args:
        segmentor (EncoderDecoder): The model, in eval mode.
        with_labels (bool): Also return the argmax ``labels`` (N, H, W),
            int64. Defaults to False.

    Raises:
        ValueError: The model is not an ``EncoderDecoder`` with whole-image
            inference, or its preprocessor pads test images.
    """

    def __init__(self, segmentor: EncoderDecoder, *,
                 with_labels: bool = False):
        super().__init__()
        if not isinstance(segmentor, EncoderDecoder):
            raise ValueError('export needs an EncoderDecoder segmentor, got '
                             f'{type(segmentor).__name__}')
        mode = segmentor.test_cfg.get('mode', 'whole')
        if mode != 'whole':
            raise ValueError(
                f"export runs whole-image inference; the config's test_cfg "
                f"mode is {mode!r}: add --cfg-options model.test_cfg.mode="
                'whole (and check that the metrics hold) to export it')
        pre = segmentor.data_preprocessor
        if getattr(pre, 'test_cfg', None):
            raise ValueError(
                'the data_preprocessor pads test images (test_cfg='
                f'{pre.test_cfg}); pad outside the graph or remove it')
        self.segmentor = segmentor
        self.with_labels = with_labels
        self.swap_rb = bool(pre.channel_conversion)
        if pre._enable_normalize:
            mean, std = pre.mean.view(1, -1, 1, 1), pre.std.view(1, -1, 1, 1)
        else:
            mean, std = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
        self.register_buffer('mean', mean.float().clone(), persistent=False)
        self.register_buffer('std', std.float().clone(), persistent=False)

    def forward(self, image: Tensor):
        """(N, 3, H, W) BGR 0-255 -> logits (N, K, H, W) [, labels]."""
        x = image[:, [2, 1, 0]] if self.swap_rb else image
        x = (x - self.mean) / self.std
        size = tuple(image.shape[2:])
        # What EncoderDecoder.predict passes without data samples.
        metas = [dict(ori_shape=size, img_shape=size, pad_shape=size,
                      padding_size=[0, 0, 0, 0])]
        logits = self.segmentor.encode_decode(x, metas)  # (N, K, H, W)
        if self.with_labels:
            return logits, logits.argmax(dim=1)
        return logits


def export_onnx(segmentor: EncoderDecoder,
                *,
                sample_size: Tuple[int, int] = (512, 512),
                with_labels: bool = False,
                opset: int = DEFAULT_OPSET) -> bytes:
    """Export ``segmentor`` with dynamic batch, height and width.

    Args:
        segmentor (EncoderDecoder): The model (moved to CPU, eval mode).
        sample_size (tuple[int, int]): (H, W) of the example input the
            exporter traces. Defaults to (512, 512).
        with_labels (bool): Add the ``labels`` output. Defaults to False.
        opset (int): ONNX opset. Defaults to :data:`DEFAULT_OPSET`.

    Returns:
        bytes: The ONNX model, weights inside: check it with
        :func:`check_onnx`, then write it with :func:`save_onnx`.
    """
    wrapper = SegmentorForExport(segmentor.cpu().eval(),
                                 with_labels=with_labels).eval()
    # Batch 2: torch.export fixes any dimension whose example is 0 or 1.
    sample = torch.rand(2, 3, *sample_size) * 255
    # AUTO rather than named Dims: the ceil-mode poolings add guards such as
    # 2 * ((H - 1) // 2) < H that hold for every H but that the symbolic
    # solver cannot prove, which a named Dim turns into an error. AUTO keeps
    # them as runtime checks, but would also quietly fix a dimension the
    # model specialises (int(h) on a size does), so the result is checked.
    dims = {0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO}
    outputs = ['logits', 'labels'] if with_labels else ['logits']
    with torch.no_grad(), size_agnostic_pooling(wrapper), matmul_encoding(
            wrapper):
        program = torch.onnx.export(
            wrapper, (sample, ),
            input_names=['image'],
            output_names=outputs,
            dynamic_shapes={'image': dims},
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False)
    proto = program.model_proto
    static = [(axis, d.dim_value) for axis, d in enumerate(
        proto.graph.input[0].type.tensor_type.shape.dim) if d.dim_value
              and axis != 1]
    if static:
        raise ValueError(
            'the exporter fixed input dimension(s) (axis, size) '
            f'{static} that should be dynamic; some code turns a size into '
            'a Python int (int(), a list multiplied by it, a shape test): '
            'find it with TORCH_LOGS="+dynamic"')
    return proto.SerializeToString()


def save_onnx(model: bytes, path: str) -> None:
    """Write an exported model to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(model))


def onnx_session(model: Union[str, bytes], *,
                 threads: Optional[int] = None):
    """An onnxruntime CPU session.

    Args:
        model (str | bytes): An ``.onnx`` file, or the model itself.
        threads (int, optional): Intra-op threads. Defaults to None
            (onnxruntime's choice).

    Raises:
        ImportError: onnxruntime is not installed; the message says how.
        ValueError: onnxruntime cannot load ``model``.
    """
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError('onnxruntime is not installed: pip install '
                          "'fcn_mm[deploy]' (or pip install onnxruntime)") \
            from err
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(model, options,
                                    providers=['CPUExecutionProvider'])
    except Exception as err:  # onnxruntime's own exception types
        name = model if isinstance(model, str) else 'the exported model'
        raise ValueError(f'onnxruntime cannot load {name} ({err}); give an '
                         '.onnx file written by tools/deploy/export_onnx.py') \
            from err


def check_onnx(model: Union[str, bytes],
               segmentor: EncoderDecoder,
               sizes: Sequence[Tuple[int, int]],
               *,
               seed: int = 0,
               rtol: Optional[float] = None) -> List[dict]:
    """Run the exported graph and the PyTorch model on the same images.

    The tolerance is derived, not fixed (:mod:`fcn_mm.numerics`): the model
    also runs in float64; PyTorch float32's error against that run measures
    this CPU's rounding noise, and onnxruntime's error against it must stay
    within :func:`~fcn_mm.numerics.float32_bound` of that noise. A correct
    graph passes on any CPU; a wrong one (a weight off by 1%) is refused.

    Args:
        model (str | bytes): The exported model or its ``.onnx`` file.
        segmentor (EncoderDecoder): The model it was exported from.
        sizes (Sequence[tuple[int, int]]): (H, W) sizes to try; pick ones
            other than the export size (one odd) to prove they are dynamic.
        seed (int): Seed of the random test images. Defaults to 0.
        rtol (float, optional): A fixed bound instead of the derived one:
            the largest onnxruntime-PyTorch float32 difference, relative to
            the largest logit (at least 1). Defaults to None (derived).

    Returns:
        list[dict]: Per size: ``size``; ``max_abs_logit`` (of the float64
        run, for scale); ``onnx_error`` and ``float32_error``, the largest
        logit errors of onnxruntime and of PyTorch float32 against float64;
        ``max_abs_diff``, onnxruntime against PyTorch float32; ``bound``,
        the largest accepted ``onnx_error`` (``max_abs_diff`` with
        ``rtol``); ``passed``; and ``label_agreement`` (the fraction of
        pixels with PyTorch float32's argmax; near-ties may differ).

    Raises:
        ValueError: The graph's output has another shape than PyTorch's, or
            its ``labels`` are not the argmax of its ``logits``.
    """
    session = onnx_session(model)
    output_names = [o.name for o in session.get_outputs()]
    wrapper = SegmentorForExport(segmentor.cpu().eval()).eval()
    reference = float64_copy(wrapper)
    generator = torch.Generator().manual_seed(seed)
    results = []
    for height, width in sizes:
        image = torch.rand(1, 3, height, width, generator=generator) * 255
        with torch.no_grad():
            expected = wrapper(image)
            exact = reference(image.double())
        got = session.run(None, {'image': image.numpy()})
        logits = torch.from_numpy(got[0])
        if logits.shape != expected.shape:
            raise ValueError(
                f'onnxruntime gave logits {tuple(logits.shape)} for an input '
                f'of {(height, width)}, PyTorch {tuple(expected.shape)}; the '
                'export fixed a dynamic size')
        labels = logits.argmax(dim=1)
        if 'labels' in output_names:
            exported = torch.from_numpy(got[output_names.index('labels')])
            if not torch.equal(exported, labels):
                raise ValueError('the exported labels are not the argmax of '
                                 'the exported logits')
        agreement = (labels == expected.argmax(dim=1)).float().mean().item()
        check = compare_with_float64(logits, expected, exact)
        max_abs_diff = max_abs_error(logits, expected)
        if rtol is None:
            bound, passed = check.bound, check.passed
        else:
            bound = rtol * max(1.0, check.magnitude)
            passed = max_abs_diff <= bound  # False for NaN
        results.append(
            dict(size=(height, width),
                 max_abs_logit=check.magnitude,
                 onnx_error=check.candidate_error,
                 float32_error=check.float32_error,
                 max_abs_diff=max_abs_diff,
                 bound=bound,
                 passed=passed,
                 label_agreement=agreement))
    return results


def check_sizes(sample_size: Tuple[int, int]) -> List[Tuple[int, int]]:
    """Two sizes to check an export traced at ``sample_size`` with: one
    smaller and even, one larger with both sides odd and unequal."""
    height, width = sample_size
    small = (max(2, height // 2 // 2 * 2), max(2, width * 3 // 4 // 2 * 2))
    odd = (height + 2 * math.ceil(height / 8) + 1, width + 1)
    return [small, odd]

