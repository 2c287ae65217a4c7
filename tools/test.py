"""Test a segmentor: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Prints aAcc, mIoU and mAcc and the per-class table; the options are those of
mmseg 1.x's ``tools/test.py``.
"""
import argparse
import sys

from mmengine.dist import is_main_process
from prettytable import PrettyTable

from fcn_mm.apis import (add_runner_arguments, drop_training,
                         enable_test_outputs, enable_tta, existing_file,
                         load_run_config)
from fcn_mm.apis.fast_inference import (add_fast_path_argument,
                                        enable_fast_inference)
from fcn_mm.engine.launch_check import launcher_problem
from fcn_mm.engine.runner import build_runner


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (``argv``, or ``sys.argv[1:]`` when None)."""
    parser = argparse.ArgumentParser(
        description='Test a segmentor and report its metrics.')
    parser.add_argument('config', type=existing_file, help='config file')
    parser.add_argument(
        'checkpoint', type=existing_file, help='checkpoint file or URL')
    add_runner_arguments(parser)
    parser.add_argument(
        '--out', help='directory to save predictions as PNGs of class indices')
    parser.add_argument(
        '--show-dir',
        help='directory to save images painted with their predictions')
    parser.add_argument(
        '--tta',
        action='store_true',
        help="test with the config's tta_pipeline and tta_model")
    add_fast_path_argument(parser)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
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
    cfg.load_from = args.checkpoint
    drop_training(cfg)
    enable_test_outputs(cfg, out=args.out, show_dir=args.show_dir)
    if args.tta:
        enable_tta(cfg)
    # The runner's logger prints the per-class table and the summary line.
    runner = build_runner(cfg)
    if args.fast_path:
        try:
            enable_fast_inference(runner, precision=args.fast_path)
        except ValueError as err:
            sys.exit(f'error: --fast-path: {err}')
    metrics = runner.test()
    if is_main_process():
        summary = PrettyTable(field_names=list(metrics))
        summary.add_row([f'{value:.2f}' for value in metrics.values()])
        print(summary)
    return metrics


if __name__ == '__main__':
    main()
