"""Train a segmentor from a config: ``python tools/train.py CONFIG [options]``.

The options are those of mmseg 1.x's ``tools/train.py``; ``--resume`` takes
mmdet 3.x's optional checkpoint. One training run holds a work dir at a time.
"""
import argparse

from fcn_mm.apis import (add_runner_arguments, enable_amp, existing_file,
                         run_config_from_args)
from fcn_mm.apis.cli import one_line_errors
from fcn_mm.apis.preflight import check_training_inputs
from fcn_mm.engine.console import quiet_console
from fcn_mm.engine.runner import build_runner, lock_work_dir


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (``argv``, or ``sys.argv[1:]`` when None)."""
    parser = argparse.ArgumentParser(description='Train a segmentor.')
    parser.add_argument('config', type=existing_file, help='config file')
    add_runner_arguments(parser)
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        metavar='CHECKPOINT',
        help='resume from CHECKPOINT; without it, from the newest intact '
        'checkpoint in the work dir (broken ones are named and skipped)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='train with automatic mixed precision: float16 with a dynamic '
        'loss scale on a GPU, bfloat16 autocast on a CPU')
    return parser.parse_args(argv)


@one_line_errors  # expected errors end in one line, see fcn_mm.apis.cli
def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = run_config_from_args(args)
    if args.amp:
        enable_amp(cfg)
    # Without --resume the config's resume (e.g. --cfg-options resume=True)
    # stands; AtomicCheckpointHook then picks the newest intact checkpoint.
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    quiet_console(cfg)
    check_training_inputs(cfg)
    lock_work_dir(cfg.work_dir)
    build_runner(cfg).train()


if __name__ == '__main__':
    main()
