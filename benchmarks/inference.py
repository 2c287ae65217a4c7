"""Inference speed of every model family: fp32 eager, fast path, onnxruntime.

For each family (the ``configs/_base_/models`` files, ``--classes`` classes,
seeded random weights) at batch 1 and ``--size`` x ``--size``:

* fp32 eager: ``EncoderDecoder.inference`` as mmseg runs it;
* fp32 channels_last and bf16 + channels_last: the two settings of
  :class:`fcn_mm.apis.fast_inference.FastInferenceSegmentor` (the second
  with bf16 weights and float32 classifiers, as the fast path runs it), and
  which one its ``'auto'`` mode picks (measured by the wrapper itself);
* onnxruntime fp32: the graph of ``tools/deploy/export_onnx.py`` (normalisation
  included), on as many threads as torch.

The machine may be shared, so the variants run interleaved, one run each per
round, and the table shows the median of the rounds and its ratio to fp32
eager, plus the argmax agreement of bf16 with fp32 on the benchmark image.

    python benchmarks/inference.py --size 512 --iters 5 --threads 2
"""
import argparse
import copy
import functools
import os.path as osp
import statistics
import sys
import time

import torch
import torch.nn as nn

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

FAMILIES = {
    'FCN-8s modern': 'fcn8s_vgg16.py',
    'FCN-8s Caffe-exact': 'fcn8s_vgg16_caffe.py',
    'FastFCN R-50 JPU + FCN head': 'fastfcn_r50-d32_jpu_fcn.py',
    'FastFCN R-50 JPU + EncHead': 'fastfcn_r50-d32_jpu_enc.py',
    'FastFCN R-50 JPU + PSPHead': 'fastfcn_r50-d32_jpu_psp.py',
    'torchvision FCN R-50': 'fcn_r50b-d8_torchvision.py',
}
VARIANTS = ('fp32 eager', 'fp32 channels_last', 'bf16 + channels_last',
            'onnxruntime fp32')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=512, help='H = W')
    parser.add_argument('--iters', type=int, default=5, help='timed rounds')
    parser.add_argument('--threads', type=int, default=2,
                        help='torch and onnxruntime intra-op threads')
    parser.add_argument('--classes', type=int, default=21)
    parser.add_argument('--families', nargs='+', choices=list(FAMILIES),
                        default=list(FAMILIES), metavar='NAME',
                        help=f'subset of: {", ".join(FAMILIES)}')
    parser.add_argument('--no-onnx', action='store_true',
                        help='skip onnxruntime (no deploy extra installed)')
    return parser.parse_args(argv)


def build(base: str, classes: int) -> nn.Module:
    """The family's model with seeded random weights, in eval mode."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models', base))
    cfg.model.backbone.pop('init_cfg', None)
    cfg.model.decode_head.num_classes = classes
    cfg.model.auxiliary_head = None
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    for module in model.modules():  # FCN zero-initialises its classifiers
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(module.weight)
    return model


def bench_family(name: str, args) -> dict:
    from fcn_mm.apis.export import (SegmentorForExport, export_onnx,
                                    onnx_session)
    from fcn_mm.apis.fast_inference import FastInferenceSegmentor

    model = build(FAMILIES[name], args.classes)
    image = torch.rand(1, 3, args.size, args.size) * 255  # BGR 0-255
    wrapper = SegmentorForExport(model)
    x = ((image[:, [2, 1, 0]] if wrapper.swap_rb else image) -
         wrapper.mean) / wrapper.std
    size = (args.size, args.size)
    metas = [dict(ori_shape=size, img_shape=size, pad_shape=size)]
    fast = {}  # the fast path as FastInferenceSegmentor runs it, fixed
    for precision in ('fp32', 'bf16', 'auto'):
        fast[precision] = FastInferenceSegmentor(copy.deepcopy(model),
                                                 precision=precision)
        with torch.no_grad():
            fast[precision].predict(x)  # converts the model, or measures
    runs = {'fp32 eager': lambda: model.inference(x, metas)}
    for variant, precision in (('fp32 channels_last', 'fp32'),
                               ('bf16 + channels_last', 'bf16')):
        runs[variant] = functools.partial(fast[precision]._logits, x, metas,
                                          fast[precision].choice.name)
    if not args.no_onnx:
        session = onnx_session(
            export_onnx(model, sample_size=(64, 64)), threads=args.threads)
        feed = {'image': image.numpy()}
        runs['onnxruntime fp32'] = lambda: session.run(['logits'], feed)
    times = {k: [] for k in runs}
    outputs = {}
    with torch.no_grad():
        for round_ in range(args.iters + 1):  # round 0 warms up
            for variant, run in runs.items():
                start = time.perf_counter()
                outputs[variant] = run()
                if round_:
                    times[variant].append(time.perf_counter() - start)
    agreement = (outputs['bf16 + channels_last'].argmax(1) ==
                 outputs['fp32 eager'].argmax(1)).float().mean().item()
    return dict(median={k: statistics.median(v) for k, v in times.items()},
                agreement=agreement, auto=fast['auto'].choice.name)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from fcn_mm.engine.console import filter_upstream_warnings
    filter_upstream_warnings()
    from mmengine.registry import init_default_scope
    from prettytable import PrettyTable

    import fcn_mm  # noqa: F401  (registers the models)
    from benchmarks.machine import describe_machine
    from fcn_mm.engine.optim_wrapper import cpu_has_fast_bf16
    init_default_scope('mmseg')
    table = PrettyTable(field_names=['model', *VARIANTS, 'bf16 argmax agree',
                                     'auto picks'])
    for name in args.families:
        result = bench_family(name, args)
        base = result['median']['fp32 eager']
        table.add_row([name] + [
            f'{result["median"][v]:.3f} s ({base / result["median"][v]:.2f}x)'
            if v in result['median'] else '-' for v in VARIANTS
        ] + [f'{100 * result["agreement"]:.2f}%', result['auto']])
        print(f'{name}: done', flush=True)
    print(f'{describe_machine(args.threads)}; batch 1, '
          f'{args.size}x{args.size}, median of {args.iters} interleaved '
          f'rounds, native bf16: {cpu_has_fast_bf16()}')
    print(table)


if __name__ == '__main__':
    main()
