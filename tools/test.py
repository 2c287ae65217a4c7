"""Test a segmentor: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Logs progress with an ETA, prints aAcc, mIoU and mAcc and the per-class
table, and saves the per-class IoU/Acc and the confusion matrix as
``per_class.json`` beside the summary JSON in the work dir; the options are
those of mmseg 1.x's ``tools/test.py``, and ``--out`` refuses a folder that
holds another run's files unless ``--overwrite``.
"""
import argparse
import sys

from mmengine.dist import is_main_process
from prettytable import PrettyTable

from fcn_mm.apis import (add_runner_arguments, drop_training,
                         enable_test_outputs, enable_tta, existing_file,
                         run_config_from_args)
from fcn_mm.apis.cli import one_line_errors
from fcn_mm.apis.run_config import claim_output_dir
from fcn_mm.apis.fast_inference import (add_fast_path_argument,
                                        enable_fast_inference)
from fcn_mm.apis.preflight import check_test_inputs
from fcn_mm.apis.testing import (keep_class_report, save_class_report,
                                 show_test_progress)
from fcn_mm.engine.console import quiet_console
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
        '--out',
        help='directory to save predictions as PNGs of class indices; it '
        'must be new or empty (see --overwrite), and one run writes there at '
        'a time')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='write into an --out that already holds files, replacing those '
        'of the same names')
    parser.add_argument(
        '--show-dir',
        help='directory to save images painted with their predictions')
    parser.add_argument(
        '--tta',
        action='store_true',
        help="test with the config's tta_pipeline and tta_model")
    add_fast_path_argument(parser)
    return parser.parse_args(argv)


@one_line_errors  # expected errors end in one line, see fcn_mm.apis.cli
def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = run_config_from_args(args)
    cfg.load_from = args.checkpoint
    drop_training(cfg)
    enable_test_outputs(cfg, out=args.out, show_dir=args.show_dir)
    if args.tta:
        enable_tta(cfg)
    keep_class_report(cfg)
    quiet_console(cfg)
    check_test_inputs(cfg)
    if args.out is not None:
        claim_output_dir(args.out, overwrite=args.overwrite)
    runner = build_runner(cfg)
    show_test_progress(runner)
    if args.fast_path:
        try:
            enable_fast_inference(runner, precision=args.fast_path)
        except ValueError as error:
            sys.exit(f'error: --fast-path: {error}')
    # The runner's logger prints the per-class table and the summary line.
    metrics = runner.test()
    if is_main_process():
        summary = PrettyTable(field_names=list(metrics))
        summary.add_row([f'{value:.2f}' for value in metrics.values()])
        print(summary)
        report = save_class_report(runner)
        if report:
            print(f'per-class IoU/Acc and confusion matrix: {report}')
    return metrics


if __name__ == '__main__':
    main()
