"""A CPU fast path for segmentor inference: channels_last and bf16 autocast.

On CPUs with AVX512-BF16 or AMX, oneDNN runs convolutions in bfloat16 about
twice as fast as in float32, and faster still on channels_last (NHWC) tensors,
which oneDNN's kernels prefer. Whether a given model gains, and whether bf16
keeps its predictions, depends on the model and the CPU; so, in ``'auto'``
mode, :class:`FastInferenceSegmentor` measures on the first batch it sees:
float32, float32 channels_last and (where the CPU has native bf16) bf16
channels_last, keeps bf16 only if its argmax agrees with float32 on at least
``min_agreement`` of the pixels, and uses the fastest candidate from then on.
It logs what it measured and chose.

The wrapper owns the model: on the first batch it folds each BatchNorm into
the conv before it, swaps in the layers of :mod:`.fast_layers` (float32
classifiers, matrix-product Encoding, chunked or prepacked convolutions),
converts to channels_last and, once bf16 is chosen, stores the other
convolution weights in bfloat16. As an mmengine model wrapper, a runner
loads checkpoints into the wrapped model as it does for DDP.
"""
import argparse
import logging
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import MODEL_WRAPPERS
from mmengine.runner import Runner
from torch import Tensor

from fcn_mm.engine.optim_wrapper import cpu_has_fast_bf16
from .fast_layers import (cast_weights_to_bf16, drop_packed_weights,
                          speed_up_layers)

__all__ = ['PRECISIONS', 'FastPath', 'FastInferenceSegmentor', 'pick_fastest',
           'add_fast_path_argument', 'enable_fast_inference']

PRECISIONS = ('auto', 'bf16', 'fp32')
# name: (channels_last, bf16)
CANDIDATES = {
    'fp32': (False, False),
    'fp32+channels_last': (True, False),
    'bf16+channels_last': (True, True),
}


@dataclass
class FastPath:
    """The inference setting in use and the measurements behind it.

    Attributes:
        name (str): A key of ``CANDIDATES``.
        seconds (dict): Seconds per batch of each measured candidate.
        agreement (float, optional): Fraction of pixels where bf16's argmax
            equals float32's on the measured batch; None if not measured.
    """
    name: str
    seconds: Dict[str, float] = field(default_factory=dict)
    agreement: Optional[float] = None

    @property
    def channels_last(self) -> bool:
        return CANDIDATES[self.name][0]

    @property
    def bf16(self) -> bool:
        return CANDIDATES[self.name][1]

    def describe(self) -> str:
        """One line: the choice, the timings and the bf16 agreement."""
        text = f'fast path: {self.name}'
        if self.seconds:
            base = self.seconds.get('fp32')
            text += ' (' + ', '.join(
                f'{name} {sec:.3f} s' + (f' {base / sec:.2f}x' if base else '')
                for name, sec in self.seconds.items()) + ')'
        if self.agreement is not None:
            text += f'; bf16 argmax agreement {100 * self.agreement:.2f}%'
        return text


def pick_fastest(seconds: Dict[str, float], agreement: Optional[float],
                 min_agreement: float) -> str:
    """The fastest candidate, bf16 only if it kept ``min_agreement``.

    Args:
        seconds (dict): Seconds per batch by candidate name.
        agreement (float, optional): bf16 argmax agreement with float32.
        min_agreement (float): The least agreement bf16 must keep.

    Returns:
        str: The chosen candidate's name.
    """
    allowed = {
        name: sec
        for name, sec in seconds.items()
        if not CANDIDATES[name][1] or (agreement is not None
                                       and agreement >= min_agreement)
    }
    return min(allowed, key=allowed.get)


@MODEL_WRAPPERS.register_module()
class FastInferenceSegmentor(nn.Module):
    """Runs a segmentor's ``test_step``/``predict`` on the CPU fast path.

    Outputs are those of the wrapped model (``SegDataSample`` lists with
    float32 ``seg_logits``); only the arithmetic differs.

    Args:
        module (nn.Module): An mmseg segmentor with ``inference`` and
            ``postprocess_result`` (``EncoderDecoder`` and its subclasses).
        precision (str): 'auto' measures (see the module docstring), 'bf16'
            or 'fp32' use that with channels_last. Defaults to 'auto'.
        min_agreement (float): Least bf16 argmax agreement with float32 in
            'auto' mode. Defaults to 0.995.
        repeats (int): Timed runs per candidate after a warm-up, in 'auto'
            mode; the fastest counts. Defaults to 1.
    """

    def __init__(self,
                 module: nn.Module,
                 *,
                 precision: str = 'auto',
                 min_agreement: float = 0.995,
                 repeats: int = 1):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got '
                             f'{precision!r}')
        if not all(hasattr(module, name)
                   for name in ('inference', 'postprocess_result')):
            raise ValueError(
                'the fast path wraps a segmentor with inference() and '
                f'postprocess_result() (EncoderDecoder); got '
                f'{type(module).__name__} (test-time augmentation is not '
                'supported: drop --tta or the fast path)')
        self.module = module
        self.precision = precision
        self.min_agreement = min_agreement
        self.repeats = repeats
        self.choice: Optional[FastPath] = None
        # What mmseg's inference_model and the visualiser read.
        self.cfg = getattr(module, 'cfg', None)
        self.dataset_meta = getattr(module, 'dataset_meta', None)

    @property
    def data_preprocessor(self) -> nn.Module:
        return self.module.data_preprocessor

    def _use(self, choice: FastPath) -> None:
        memory_format = (torch.channels_last
                         if choice.channels_last else torch.contiguous_format)
        self.module.to(memory_format=memory_format)
        drop_packed_weights(self.module)  # the other candidates' copies
        if choice.bf16:
            cast_weights_to_bf16(self.module)
        self.choice = choice
        print_log(choice.describe(), logger='current', level=logging.INFO)

    def _logits(self, inputs: Tensor, metas: List[dict],
                name: str) -> Tensor:
        """Aligned float32 logits of ``inputs`` with candidate ``name``."""
        channels_last, bf16 = CANDIDATES[name]
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), torch.autocast(
                inputs.device.type, dtype=torch.bfloat16, enabled=bf16):
            return self.module.inference(inputs, metas).float()

    def _measure(self, inputs: Tensor, metas: List[dict]) -> FastPath:
        names = list(CANDIDATES)
        if not cpu_has_fast_bf16():
            names.remove('bf16+channels_last')
        outputs, seconds = {}, {}
        for name in names:  # each layout once: a new layout repacks weights
            self.module.to(memory_format=torch.channels_last
                           if CANDIDATES[name][0] else torch.contiguous_format)
            for round_ in range(1 + self.repeats):
                start = time.perf_counter()
                outputs[name] = self._logits(inputs, metas, name)
                took = time.perf_counter() - start
                if round_:  # round 0 warms up (oneDNN builds its kernels)
                    seconds[name] = min(seconds.get(name, took), took)
        agreement = None
        if 'bf16+channels_last' in outputs:
            agreement = (outputs['bf16+channels_last'].argmax(1) ==
                         outputs['fp32'].argmax(1)).float().mean().item()
        return FastPath(pick_fastest(seconds, agreement, self.min_agreement),
                        seconds, agreement)

    def predict(self, inputs: Tensor, data_samples=None) -> list:
        """``EncoderDecoder.predict`` on the fast path."""
        if data_samples is not None:
            metas = [sample.metainfo for sample in data_samples]
        else:
            size = inputs.shape[2:]
            metas = [dict(ori_shape=size, img_shape=size, pad_shape=size,
                          padding_size=[0, 0, 0, 0])] * inputs.shape[0]
        if self.choice is None:  # after a runner loaded the checkpoint
            fuse_conv_bn(self.module)  # BN into the conv before it, as mmdet
            speed_up_layers(self.module)
            self._use(self._measure(inputs, metas) if self.precision == 'auto'
                      else FastPath(f'{self.precision}+channels_last'))
        logits = self._logits(inputs, metas, self.choice.name)
        return self.module.postprocess_result(logits, data_samples)

    def test_step(self, data: dict) -> list:
        """Preprocess with the wrapped model's preprocessor, then predict."""
        data = self.module.data_preprocessor(data, False)
        return self.predict(data['inputs'], data.get('data_samples'))

    val_step = test_step


def add_fast_path_argument(parser: argparse.ArgumentParser) -> None:
    """``--fast-path [auto|bf16|fp32]``, as tools/test.py and predict.py
    spell it.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--fast-path', nargs='?', const='auto', choices=PRECISIONS,
        help='CPU fast path: channels_last, and bf16 autocast where the CPU '
        'has it; "auto" (the default when no value is given) measures on the '
        'first batch and keeps the fastest setting whose labels agree with '
        'float32 on 99.5%% of the pixels; "bf16" or "fp32" skip measuring')


def enable_fast_inference(runner: Runner, **kwargs) -> FastInferenceSegmentor:
    """Make ``runner`` test on the fast path.

    Args:
        runner (Runner): A built runner, before ``test()``.
        **kwargs: :class:`FastInferenceSegmentor` options.

    Returns:
        FastInferenceSegmentor: The runner's new model.
    """
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    runner.model = FastInferenceSegmentor(model, **kwargs)
    return runner.model
