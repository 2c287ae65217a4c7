"""FastFCN vs the dilated FCN it replaces: speed, memory, size and FLOPs.

Wu et al., "FastFCN: Rethinking Dilated Convolution in the Backbone for
Semantic Segmentation" (arXiv:1903.11816), replace the dilated stages 3-4 of
an output-stride-8 ResNet by plain strided ones plus JPU, and report the
whole net about 2x (ResNet-50) to 3x (ResNet-101) faster. This script builds
both from fcn_mm's configs, with the same reduced FCN head and 150 classes:

    FastFCN  configs/fastfcn/fastfcn_r50-d32_jpu_fcn_4xb4-80k_ade20k-512x512.py
    dilated  configs/fastfcn/dilatedfcn_r50-d8_fcn_4xb4-80k_ade20k-512x512.py

(R-101: the same with ``backbone.depth=101``) and measures, on one image:

* inference: ``encode_decode`` (backbone, JPU, decode head, upsampling to the
  input size; the auxiliary head is not run at test time), no grad;
* training step: ``loss`` (both heads) + backward + SGD step;
* peak memory: CUDA's peak allocation, or on CPU the growth of the peak
  resident set size of a fresh process over its size before building the
  model; weights included in both;
* parameters and GFLOPs of the inference path; GFLOPs as mmengine's
  ``get_model_complexity_info`` counts them (one multiply-add is one FLOP).

Each model runs in its own spawned process, so memory peaks do not mix::

    python benchmarks/fastfcn_vs_dilated.py --device cpu --threads 2 \\
        --iters 2 --warmup 1 --depths 50 101

It prints a markdown table, and the dilated/FastFCN ratios (speed-ups and
memory saving) per depth.
"""
import argparse
import copy
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # benchmarks.machine
CONFIGS = {
    'FastFCN (JPU)':
    'configs/fastfcn/fastfcn_r50-d32_jpu_fcn_4xb4-80k_ade20k-512x512.py',
    'dilated (D8)':
    'configs/fastfcn/dilatedfcn_r50-d8_fcn_4xb4-80k_ade20k-512x512.py',
}
MIB = 1024 * 1024


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='FastFCN (ResNet + JPU) vs dilated ResNet-D8, same head: '
        'time, memory, parameters, GFLOPs')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations of each measurement')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed iterations before them')
    parser.add_argument('--depths', type=int, nargs='+', default=[50],
                        choices=[50, 101], help='ResNet depths to compare')
    parser.add_argument('--size', type=int, default=512,
                        help='input height and width')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s choice)')
    return parser.parse_args(argv)


def _rss_mib() -> float:
    """Peak resident set size of this process so far (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(step, device, iters: int, warmup: int) -> float:
    """Mean seconds of ``step()`` over ``iters`` runs after ``warmup``."""
    import torch
    for _ in range(warmup):
        step()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / iters


def measure(config: str, depth: int, args: argparse.Namespace) -> Dict:
    """Build one model and measure it; runs in a fresh process."""
    import torch
    from mmengine.analysis import get_model_complexity_info
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    import fcn_mm  # noqa: F401  (registers the models)

    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    device = torch.device(args.device)
    cfg = Config.fromfile(REPO / config)
    cfg.model.backbone.init_cfg = None  # random weights time the same
    cfg.model.backbone.depth = depth
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    base_rss = _rss_mib()
    model = revert_sync_batchnorm(MODELS.build(copy.deepcopy(cfg.model)))
    model.to(device)
    size = (args.size, args.size)
    x = torch.randn(1, 3, *size, device=device)
    metas = [dict(img_shape=size, ori_shape=size, pad_shape=size)]
    sample = SegDataSample(metainfo=metas[0])
    sample.gt_sem_seg = PixelData(data=torch.randint(
        0, cfg.model.decode_head.num_classes, (1, *size), device=device))

    def peak() -> float:
        if device.type == 'cuda':
            return torch.cuda.max_memory_allocated(device) / MIB
        return _rss_mib() - base_rss

    model.eval()

    def infer():
        with torch.no_grad():
            model.encode_decode(x, metas)

    infer_s = _timed(infer, device, args.iters, args.warmup)
    infer_peak = peak()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train_step():
        optimizer.zero_grad()
        losses = model.loss(x, [sample])
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        optimizer.step()

    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    train_s = _timed(train_step, device, args.iters, args.warmup)
    train_peak = peak()
    model.eval()
    # The test-time network: no auxiliary head.
    params = sum(p.numel() for name, p in model.named_parameters()
                 if not name.startswith('auxiliary_head'))
    # The FLOP counter warns about every op it does not count (BN, ReLU,
    # pooling, upsampling: cheap next to the convs it counts).
    MMLogger.get_current_instance().setLevel('ERROR')
    with torch.no_grad():
        flops = get_model_complexity_info(
            model, inputs=(x, ), show_table=False, show_arch=False)['flops']
    return dict(infer_ms=infer_s * 1e3, train_ms=train_s * 1e3,
                infer_mib=infer_peak, train_mib=train_peak,
                params_m=params / 1e6, gflops=flops / 1e9)


def _run(job):
    name, config, depth, args = job
    return name, depth, measure(config, depth, args)


def table(results: List, args: argparse.Namespace) -> str:
    import torch

    from benchmarks.machine import describe_machine
    rows = [
        f'{describe_machine(torch.get_num_threads())}. Input '
        f'{args.size}x{args.size}, batch 1, device {args.device}: mean of '
        f'{args.iters} timed iterations after {args.warmup} warm-up.', '',
        '| model | backbone | params (M) | GFLOPs | inference (ms) | '
        'train step (ms) | peak mem infer (MiB) | peak mem train (MiB) |',
        '|---|---|---:|---:|---:|---:|---:|---:|'
    ]
    by_depth = {}
    for name, depth, r in results:
        by_depth.setdefault(depth, {})[name] = r
        rows.append(
            f"| {name} | R-{depth} | {r['params_m']:.1f} | {r['gflops']:.1f}"
            f" | {r['infer_ms']:.0f} | {r['train_ms']:.0f} | "
            f"{r['infer_mib']:.0f} | {r['train_mib']:.0f} |")
    rows += [
        '', '| backbone | inference speed-up | train-step speed-up | '
        'GFLOPs ratio | train memory ratio |', '|---|---:|---:|---:|---:|'
    ]
    fast, dilated = CONFIGS
    for depth, r in by_depth.items():
        f, d = r[fast], r[dilated]
        rows.append(
            f"| R-{depth} | {d['infer_ms'] / f['infer_ms']:.2f}x | "
            f"{d['train_ms'] / f['train_ms']:.2f}x | "
            f"{d['gflops'] / f['gflops']:.2f}x | "
            f"{d['train_mib'] / f['train_mib']:.2f}x |")
    rows.append('\nRatios are dilated / FastFCN: above 1 means FastFCN is '
                'faster, cheaper or smaller.')
    return '\n'.join(rows)


def main(argv=None) -> None:
    args = parse_args(argv)
    jobs = [(name, config, depth, args) for depth in args.depths
            for name, config in CONFIGS.items()]
    # One fresh process per model: CPU peak memory is per process.
    context = multiprocessing.get_context('spawn')
    results = []
    for job in jobs:
        with context.Pool(1) as pool:
            name, depth, result = pool.apply(_run, (job, ))
        print(f'{name} R-{depth}: {result["infer_ms"]:.0f} ms inference, '
              f'{result["train_ms"]:.0f} ms train step', flush=True)
        results.append((name, depth, result))
    print(table(results, args))


if __name__ == '__main__':
    main()
