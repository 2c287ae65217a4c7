"""Shared pytest fixtures.

Modules opt into the scope and thread fixtures with
``pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')``.
"""
import re

import pytest
import self_contained
import tool_runs


@pytest.fixture
def mmseg_scope():
    """mmseg's default registry scope, as the runner sets from a config's
    ``default_scope``, so that ``MODELS.build`` finds mmseg's classes."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')


@pytest.fixture(scope='module')
def one_thread():
    """One torch thread for a module of small tensors: OpenMP's thread sync
    costs more than a second thread gives (100x more on a busy 2-core
    machine)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def load_tool():
    """``load_tool('tools/x/y.py')``: import a tool script as a module, to
    call its ``parse_args``/``main`` in-process; see
    :func:`tool_runs.load_tool`."""
    return tool_runs.load_tool


@pytest.fixture(scope='session')
def demo_voc_root(tmp_path_factory) -> str:
    """The synthetic VOC2012 folder, converted: ``SegmentationClassAug`` and
    ``ImageSets/Segmentation/{train,val,aug,trainaug}.txt`` are ready."""
    from fcn_mm.datasets.synthetic import make_demo_dataset
    from fcn_mm.datasets.voc_aug import convert_voc_aug

    paths = make_demo_dataset(str(tmp_path_factory.mktemp('demo_data')))
    convert_voc_aug(paths['devkit'], paths['sbd'])
    return paths['voc2012']


def _printed_summary(output: str) -> dict:
    """The metrics of the last table tools/test.py printed:
    ``| aAcc | mIoU | mAcc |`` over a row of values."""
    lines = output.splitlines()
    header = max(i for i, line in enumerate(lines)
                 if re.fullmatch(r'\|\s+aAcc\s+\|.*\|', line))
    names = lines[header].strip('|').split('|')
    values = lines[header + 2].strip('|').split('|')
    return {n.strip(): float(v) for n, v in zip(names, values)}


@pytest.fixture(scope='session')
def printed_summary():
    """``printed_summary(output) -> {'aAcc': .., 'mIoU': .., 'mAcc': ..}``."""
    return _printed_summary


@pytest.fixture(scope='session')
def demo_options(demo_voc_root) -> list:
    """``--cfg-options`` that point the demo config at the generated data and
    keep runs small and single-process: no workers, 2 images a batch, a log
    line (and a scalars.json line) for every iteration, no validation."""
    options = [
        f'train_dataloader.dataset.datasets.{i}.data_root={demo_voc_root}'
        for i in range(2)
    ] + [f'{loader}.dataset.data_root={demo_voc_root}'
         for loader in ('val_dataloader', 'test_dataloader')]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    return options + [
        'train_dataloader.batch_size=2',
        'train_cfg.val_begin=1000000',
        'default_hooks.logger.interval=1',
        'log_processor.window_size=1',
    ]


@pytest.fixture(scope='session')
def run_tool():
    """``run_tool(tool, *args, cwd=..., expect_success=True)``: run a tool
    as a user would, see :func:`tool_runs.run_tool`."""
    return tool_runs.run_tool


@pytest.fixture(scope='session')
def demo_config():
    return tool_runs.DEMO_CONFIG


def pytest_configure(config):
    """Refuse, in every test, a path beside the repository (see
    :mod:`self_contained`): a user's clone has nothing there."""
    self_contained.install()
