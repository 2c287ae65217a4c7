"""Train a segmentor from a config: ``python tools/train.py CONFIG [options]``.

The options are those of mmseg 1.x's ``tools/train.py``; ``--resume`` picks up
the last checkpoint in the work dir.
"""
import argparse
import sys

from fcn_mm.apis import (add_runner_arguments, enable_amp, existing_file,
                         load_run_config)
from fcn_mm.engine.launch_check import launcher_problem
from fcn_mm.engine.runner import build_runner


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (``argv``, or ``sys.argv[1:]`` when None)."""
    parser = argparse.ArgumentParser(description='Train a segmentor.')
    parser.add_argument('config', type=existing_file, help='config file')
    add_runner_arguments(parser)
    parser.add_argument(
        '--resume',
        action='store_true',
        help='resume from the last checkpoint in the work dir, if any')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='train with automatic mixed precision: float16 with a dynamic '
        'loss scale on a GPU, bfloat16 autocast on a CPU')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    problem = launcher_problem(args.launcher)
    if problem:
        sys.exit(f'error: {problem}')
    cfg = load_run_config(
        args.config,
        work_dir=args.work_dir,
        cfg_options=args.cfg_options,
        launcher=args.launcher,
        local_rank=args.local_rank)
    if args.amp:
        enable_amp(cfg)
    cfg.resume = args.resume
    build_runner(cfg).train()


if __name__ == '__main__':
    main()
