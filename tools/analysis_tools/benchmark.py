"""Inference speed of a config's model: latency, images/s, peak memory.

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] \
        [--shape 512 512] [--batch-size 1] [--device cuda:0] [--iters 20]

Random images of the given size; CPU or CUDA. Without a checkpoint the
weights are random, which changes nothing about speed.
"""
import argparse
import sys

import torch
from prettytable import PrettyTable

from fcn_mm.apis.analysis import measure_speed
from fcn_mm.apis.inference import load_model


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (optional)')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 512],
                        metavar=('H', 'W'),
                        help='input size (default 512 512)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--device', default='cuda:0' if
                        torch.cuda.is_available() else 'cpu')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--iters', type=int, default=20,
                        help='timed forward passes (default 20)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.iters < 1 or args.batch_size < 1:
        sys.exit('error: --iters and --batch-size must be at least 1')
    try:
        model = load_model(args.config, args.checkpoint, device=args.device)
    except FileNotFoundError as error:
        sys.exit(f'error: {error}')
    speed = measure_speed(model, tuple(args.shape),
                          batch_size=args.batch_size, warmup=args.warmup,
                          iters=args.iters)
    table = PrettyTable(['device', 'input', 'latency ms (median)',
                         'latency ms (p90)', 'images/s', 'peak memory MiB'])
    table.add_row([speed['device'],
                   f'{args.batch_size}x3x{args.shape[0]}x{args.shape[1]}',
                   f"{speed['latency_ms']:.1f}",
                   f"{speed['latency_ms_p90']:.1f}",
                   f"{speed['images_per_s']:.2f}",
                   f"{speed['peak_memory_mib']:.0f}"])
    print(table)
    return speed


if __name__ == '__main__':
    main()
