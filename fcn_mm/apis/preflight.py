"""Checks before a run starts: the schedule fits the run, the files exist.

Without them a run fails minutes in with ``train.txt`` or ``checkpoint ...
can not be found`` and no word of where the file comes from, or it trains
with a learning rate that never decays because ``train_cfg.max_iters`` was
changed and the ``PolyLR`` still ends at the old count.
"""
import logging
import os.path as osp
from typing import Iterator, List, Optional, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from .pretrained import pretrained_for_path

__all__ = [
    'check_data', 'check_test_inputs', 'check_training_inputs',
    'follow_max_iters', 'missing_inputs', 'pretrained_into_init_cfg'
]

VOC_URL = 'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/'
SBD_URL = ('http://www.eecs.berkeley.edu/Research/Projects/CS/vision/'
           'grouping/semantic_contours/benchmark.tgz')
ADE_URL = ('http://data.csail.mit.edu/places/ADEchallenge/'
           'ADEChallengeData2016.zip')
# How the messages name each split's data.
ROLES = dict(train='training', val='validation', test='test')


def follow_max_iters(cfg: Config) -> List[str]:
    """Make iteration-based schedulers end where training ends.

    The schedulers that end last (PolyLR in every fcn_mm config, after any
    warm-up) are moved to end at ``train_cfg.max_iters`` when they end
    elsewhere, so that changing ``max_iters`` alone changes the schedule.
    ``follow_max_iters=False`` in the config keeps the schedule as written
    (to stop a run early on purpose).

    Args:
        cfg (Config): The run's config, changed in place.

    Returns:
        list[str]: One line per scheduler moved, also logged.

    Raises:
        ValueError: A scheduler begins at or after ``max_iters``.
    """
    train_cfg, schedulers = cfg.get('train_cfg'), cfg.get('param_scheduler')
    if (cfg.get('follow_max_iters', True) is False or not train_cfg
            or 'max_iters' not in train_cfg or not schedulers):
        return []
    max_iters = train_cfg.max_iters
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    by_iter = [s for s in schedulers
               if not s.get('by_epoch', True) and 'end' in s]
    for scheduler in by_iter:
        if scheduler.get('begin', 0) >= max_iters:
            raise ValueError(
                f"param_scheduler {scheduler.type} begins at iteration "
                f"{scheduler.get('begin', 0)}, but train_cfg.max_iters is "
                f'{max_iters}; shorten its begin/end or train longer')
    last = max((s.end for s in by_iter), default=max_iters)
    moved = []
    for scheduler in by_iter:
        if scheduler.end == last != max_iters:
            moved.append(f'param_scheduler {scheduler.type} ended at '
                         f'{scheduler.end}; it now ends at train_cfg.'
                         f'max_iters={max_iters}')
            scheduler.end = max_iters
    for line in moved:
        print_log(line, logger='current', level=logging.INFO)
    return moved


def pretrained_into_init_cfg(cfg: Config) -> Optional[str]:
    """Move mmseg 0.x's ``model.pretrained`` to ``model.backbone.init_cfg``.

    mmseg 1.x hands ``model.pretrained`` to the backbone, which (ResNet)
    warns that it is deprecated or (with an ``init_cfg`` already set, as in
    fcn_mm's configs) fails with a bare assertion. The backbone's
    ``init_cfg`` is what ResNet would make of it.

    Args:
        cfg (Config): The run's config, changed in place.

    Returns:
        str, optional: The line logged when something moved.
    """
    path = cfg.model.get('pretrained')
    if not isinstance(path, str):
        return None
    replaced = cfg.model.backbone.get('init_cfg')
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=path)
    cfg.model.pretrained = None
    line = (f'model.pretrained={path} is now model.backbone.init_cfg='
            f"dict(type='Pretrained', checkpoint='{path}'), mmseg 1.x's place "
            f'for it' + (f' (it replaces {replaced})' if replaced else ''))
    print_log(line, logger='current', level=logging.INFO)
    return line


def _datasets(dataset: ConfigDict) -> Iterator[ConfigDict]:
    """The leaf datasets of a (Concat/Repeat) dataset config."""
    if 'datasets' in dataset:
        for child in dataset.datasets:
            yield from _datasets(child)
    elif 'dataset' in dataset:
        yield from _datasets(dataset.dataset)
    else:
        yield dataset


def _data_hint(path: str, root: str) -> str:
    """What to do about a missing data file, for the datasets fcn_mm knows;
    ``root`` is the dataset's data_root."""
    if 'SegmentationClassAug' in path or path.endswith(('aug.txt',
                                                        'trainaug.txt')):
        return ('build the VOC aug set from SBD (' + SBD_URL + '): python '
                'tools/convert_datasets/voc_aug.py data/VOCdevkit '
                'data/benchmark_RELEASE')
    if 'VOC' in path:
        return ('download VOCtrainval_11-May-2012.tar from ' + VOC_URL +
                f' and extract it so that {root} is its VOCdevkit/VOC2012')
    if 'ADEChallengeData2016' in path:
        return (f'download {ADE_URL} and unzip it so that {root} is its '
                'ADEChallengeData2016')
    return ('set the dataset\'s data_root (e.g. --cfg-options '
            'train_dataloader.dataset.data_root=DIR) to your data, see '
            '"Train on your own data" in README.md')


def _data_problems(loader: Optional[dict], role: str) -> Iterator[str]:
    if not loader:
        return
    for dataset in _datasets(loader.dataset):
        root = dataset.get('data_root', '')
        paths = [osp.join(root, dataset.ann_file)] \
            if dataset.get('ann_file') else []
        paths += [osp.join(root, p)
                  for p in dataset.get('data_prefix', {}).values()]
        for path in paths:
            if not osp.exists(path):
                yield (f'{role} data: {path} is missing; '
                       f'{_data_hint(path, root)}.')


def _init_checkpoints(model: dict) -> Iterator[Tuple[str, str]]:
    """(config key that names it, path) of every Pretrained init: the
    ``init_cfg`` of the backbone (as fcn_mm's configs) or of any other part,
    and mmseg 0.x's ``model.pretrained``, which users' own configs may keep."""
    if isinstance(model.get('pretrained'), str):
        yield 'model.pretrained', model.pretrained
    for key, part in model.items():
        init = part.get('init_cfg') if isinstance(part, dict) else None
        for one in init if isinstance(init, list) else [init]:
            if one and one.get('type') == 'Pretrained':
                yield f'model.{key}.init_cfg', one.checkpoint


def _pretrained_problems(model: dict) -> Iterator[str]:
    for key, path in _init_checkpoints(model):
        if '://' in path or osp.isfile(path):
            continue
        entry = pretrained_for_path(path)
        if entry is not None:
            yield (f'init weights: {path} ({key}) is missing: '
                   f'{entry.about}, from {entry.url}. Run: {entry.command} '
                   f'(or, with the file already downloaded: {entry.command} '
                   '--from FILE)')
        else:
            yield (f'init weights: {path} ({key}) is missing; put the '
                   f'checkpoint there, or train from scratch with '
                   f'--cfg-options {key}=None')


def missing_inputs(cfg: Config, *, training: bool) -> List[str]:
    """What a run needs and does not find, one message per file.

    Args:
        cfg (Config): The run's config.
        training (bool): Check the training and validation data and the
            init weights; else the test data.

    Returns:
        list[str]: Messages naming each missing file and how to get it.
    """
    if not training:
        return list(_data_problems(cfg.get('test_dataloader'), ROLES['test']))
    problems = list(_data_problems(cfg.get('train_dataloader'),
                                   ROLES['train']))
    if cfg.get('val_cfg'):
        problems += _data_problems(cfg.get('val_dataloader'), ROLES['val'])
    return problems + list(_pretrained_problems(cfg.model))


def check_training_inputs(cfg: Config) -> None:
    """Raise FileNotFoundError listing every missing input of a training
    run: its data, validation data and init weights."""
    _raise(missing_inputs(cfg, training=True))


def check_test_inputs(cfg: Config) -> None:
    """Raise FileNotFoundError listing every missing test-data file."""
    _raise(missing_inputs(cfg, training=False))


def check_data(cfg: Config, split: str) -> None:
    """Raise FileNotFoundError listing the missing files of one split's
    data (``train``, ``val`` or ``test``)."""
    _raise(list(_data_problems(cfg.get(f'{split}_dataloader'), ROLES[split])))


def _raise(problems: List[str]) -> None:
    if problems:
        raise FileNotFoundError('\n'.join(['the run needs files that are '
                                           'missing:'] + problems))
