"""A console that shows a run's progress and results, not its set-up.

mmengine's runner prints its environment, the whole config (300-500 lines
for an fcn_mm config) and the hook order before anything happens; mmseg and
mmengine add deprecation warnings that a user cannot act on. Here the set-up
goes to the run's log file only and the known upstream warnings are filtered,
each with its reason, in one place; every other warning still shows.
Importing this module registers :class:`QuietConsoleRunner` in mmseg's
``RUNNERS``.
"""
import logging
import os.path as osp
import re
import warnings

from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

__all__ = ['QuietConsoleRunner', 'filter_upstream_warnings', 'quiet_console']

# (message start, category, module, why it is filtered)
UPSTREAM_WARNINGS = (
    ('pkg_resources is deprecated', UserWarning, '',
     "mmengine 0.10.7 resolves 'mmseg::' config bases with pkg_resources"),
    ('``build_loss`` would be deprecated', UserWarning, 'mmseg',
     "mmseg 1.2's own BaseDecodeHead builds its losses with build_loss"),
    ('Default ``avg_non_ignore`` is False', UserWarning, 'mmseg',
     "mmseg's CrossEntropyLoss warns on its default; fcn_mm keeps that "
     "default, with which mmseg's published FCN results were trained"),
    ('`isinstance(treespec, LeafSpec)` is deprecated', FutureWarning, '',
     "torch 2.13's own exporter copies pytree specs the deprecated way"),
    ('The draw is False', UserWarning, 'mmseg',
     "mmseg's SegVisualizationHook warns on its default; tools/test.py "
     '--show-dir turns drawing on'),
)

# Runner log records that go to the log file only: environment, config and
# hook order; mmseg 1.2's and mmcv 2.1's transforms creating a FileClient
# (mmengine logs its deprecation, once per transform); and the note that
# mmseg's IoUMetric has no key prefix, which is how its metrics are named
# aAcc/mIoU/mAcc.
FILE_ONLY = ('\n' + '-' * 60 + '\nSystem environment:', 'Config:\n',
             'Hooks will be executed in the following order',
             '"FileClient" will be deprecated', '"HardDiskBackend" is the '
             'alias', 'The prefix is not set in metric class')


def filter_upstream_warnings() -> None:
    """Hide :data:`UPSTREAM_WARNINGS` in this process (and its workers)."""
    for message, category, module, _ in UPSTREAM_WARNINGS:
        warnings.filterwarnings(
            'ignore', message='.*' + re.escape(message),
            category=category, module=module)


class _FileOnly(logging.Filter):
    """Drops :data:`FILE_ONLY` records; set on console handlers only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(FILE_ONLY)


@RUNNERS.register_module()
class QuietConsoleRunner(Runner):
    """mmengine's ``Runner`` whose console leaves out :data:`FILE_ONLY`
    records, and says in one line how the run is distributed and where the
    log file with everything is. Arguments are ``Runner``'s."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # mmengine's own wording, from the environment block left out above.
        self.logger.info(
            f'Distributed training: {self.distributed}  GPU number: '
            f'{self.world_size}  seed: {self.seed}  (environment and config: '
            f'{osp.join(self.log_dir, self.timestamp)}.log)')

    def build_logger(self, *args, **kwargs):
        """mmengine's logger, with the console filter; arguments as
        ``Runner.build_logger``."""
        logger = super().build_logger(*args, **kwargs)
        for handler in logger.handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.addFilter(_FileOnly())
        return logger


def quiet_console(cfg: Config) -> None:
    """Run ``cfg`` with :class:`QuietConsoleRunner` and filtered warnings.

    A config that names its own ``runner_type`` keeps it. The module is added
    to ``custom_imports``, so the config the runner saves in the work dir
    still builds with mmseg's own tools.

    Args:
        cfg (Config): The run's config, changed in place.
    """
    filter_upstream_warnings()
    if 'runner_type' in cfg:
        return
    cfg.runner_type = 'QuietConsoleRunner'
    imports = cfg.setdefault('custom_imports',
                             dict(imports=[], allow_failed_imports=False))
    imports['imports'] = [*imports['imports'], __name__]
