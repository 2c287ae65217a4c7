"""What ``tools/test.py`` adds to mmseg's test run: progress with an ETA, and
the per-class results and confusion matrix saved as JSON beside the summary.
"""
import json
import math
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.hooks import LoggerHook
from mmengine.runner import Runner

from ..fileio import atomic_write
from .evaluation import ConfusionIoUMetric

__all__ = ['keep_class_report', 'save_class_report', 'show_test_progress']

CLASS_REPORT = 'per_class.json'


def keep_class_report(cfg: Config) -> None:
    """Evaluate with :class:`ConfusionIoUMetric` where the config has mmseg's
    ``IoUMetric`` or fcn_mm's ``AtomicIoUMetric`` (same arguments, same
    metrics and files, plus the report).

    Args:
        cfg (Config): The run's config, changed in place.
    """
    evaluators = cfg.test_evaluator
    for evaluator in evaluators if isinstance(evaluators, list) else [
            evaluators]:
        if evaluator.get('type') in ('IoUMetric', 'mmseg.IoUMetric',
                                     'AtomicIoUMetric'):
            evaluator.type = 'ConfusionIoUMetric'


def show_test_progress(runner: Runner, *, lines: int = 20) -> int:
    """Log test progress (count, ETA) about ``lines`` times per run.

    The runner's ``LoggerHook`` logs test iterations every ``interval``
    (50, as in training), so a short test showed nothing until its end.

    Args:
        runner (Runner): A runner about to test; its test loop is built here.
        lines (int): Progress lines wanted. Defaults to 20.

    Returns:
        int: The logging interval set, in batches.
    """
    interval = max(1, math.ceil(len(runner.test_loop.dataloader) / lines))
    for hook in runner.hooks:
        if isinstance(hook, LoggerHook):
            hook.interval = interval
    return interval


def _json_text(report: dict) -> str:
    """JSON with one line per entry and per confusion-matrix row."""
    lines = [f' {json.dumps(key)}: {json.dumps(value)}'
             for key, value in report.items() if key != 'confusion_matrix']
    rows = ',\n'.join(f'  {json.dumps(row)}'
                      for row in report['confusion_matrix'])
    lines.append(f' "confusion_matrix": [\n{rows}\n ]')
    return '{\n' + ',\n'.join(lines) + '\n}\n'


def save_class_report(runner: Runner) -> Optional[str]:
    """Write the per-class report of the test just run, beside the summary
    JSON that mmengine writes in ``runner.log_dir``.

    Args:
        runner (Runner): The runner after ``test()``, on the main process.

    Returns:
        str | None: The file written, or None when no metric kept a report.
    """
    for metric in runner.test_evaluator.metrics:
        if isinstance(metric, ConfusionIoUMetric) and metric.report:
            path = osp.join(runner.log_dir, CLASS_REPORT)
            text = _json_text(metric.report)
            atomic_write(path, lambda f: f.write(text.encode()))
            return path
    return None
