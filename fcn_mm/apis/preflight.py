"""Checks before a run starts: the schedule fits the run, the files exist,
every keyword argument of the config reaches a class that takes it.

Without them a run fails minutes in with ``train.txt`` or ``checkpoint ...
can not be found`` and no word of where the file comes from, trains with a
learning rate that never decays because ``train_cfg.max_iters`` was changed
and the ``PolyLR`` still ends at the old count, or runs until its first save
and dies there with ``unexpected keyword argument 'intervall'`` (mmengine's
``CheckpointHook`` hands its unknown arguments to ``save_checkpoint``).
"""
import difflib
import inspect
import logging
import os.path as osp
from typing import (Callable, Dict, FrozenSet, Iterator, List, Optional,
                    Tuple)

from mmengine.config import Config, ConfigDict
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.registry import (DATA_SAMPLERS, FUNCTIONS, HOOKS,
                               OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS,
                               Registry)
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from ..errors import ConfigArgumentError, ConfigError
from .pretrained import pretrained_for_path

__all__ = [
    'check_class_count', 'check_config_arguments', 'check_data', 'check_test_inputs',
    'check_training_inputs', 'follow_max_iters', 'missing_inputs',
    'pretrained_into_init_cfg'
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
        ConfigError: A scheduler begins at or after ``max_iters`` (a
            ``ValueError``).
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
            raise ConfigError(
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


def _dataset_classes(dataset: ConfigDict,
                     scope: Optional[str]) -> Optional[tuple]:
    """The class names a dataset config trains on: its ``metainfo.classes``,
    else its registered class's ``METAINFO``; None where neither says."""
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None:
        from mmseg.registry import DATASETS
        cls = _resolve(DATASETS, dataset.get('type'), scope)
        classes = getattr(cls, 'METAINFO', {}).get('classes')
    return tuple(classes) if classes is not None else None


def _heads(model: dict) -> Iterator[Tuple[str, dict]]:
    """(config key, head) of every head that names ``num_classes``."""
    for key in ('decode_head', 'auxiliary_head'):
        heads = model.get(key)
        if isinstance(heads, dict):
            heads = [heads]
        for i, head in enumerate(heads or []):
            if isinstance(head, dict) and 'num_classes' in head:
                name = key if len(heads) == 1 else f'{key}[{i}]'
                yield f'model.{name}.num_classes', head


def check_class_count(cfg: Config) -> None:
    """Raise :class:`ConfigError` if a head's ``num_classes`` differs from
    the class count of a dataset the run reads.

    Without this a head with too few classes trains until the first label
    beyond them (``IndexError: Target 15 is out of bounds``), and one with
    too many never learns the extra classes and reports them as ``nan``.
    mmseg's binary form (``num_classes=2`` with ``out_channels=1``) counts as
    2 classes.
    """
    scope = cfg.get('default_scope')
    problems = []
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if not isinstance(loader, dict) or not loader.get('dataset'):
            continue
        for dataset in _datasets(loader.dataset):
            classes = _dataset_classes(dataset, scope)
            if classes is None:
                continue
            for key, head in _heads(cfg.get('model') or {}):
                if head['num_classes'] != len(classes):
                    problems.append(
                        f'{key} is {head["num_classes"]} but the {split} '
                        f'dataset ({dataset.get("type")} at '
                        f'{dataset.get("data_root", ".")}) has '
                        f'{len(classes)} classes')
    if problems:
        raise ConfigError(
            '; '.join(dict.fromkeys(problems)) + '. Set num_classes to the '
            "dataset's class count (--cfg-options model.decode_head."
            'num_classes=N, and the auxiliary head\'s), or the dataset\'s '
            'metainfo.classes to the classes of your labels.')


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


# Keys that mmengine 0.10.7's runner itself reads from an entry before it
# builds the class: a hook's priority (Runner.register_hook), a scheduler's
# convert_to_iter_based (ParamScheduler.build_iter_from_epoch), the
# dataloader keys Runner.build_dataloader pops, and the keys
# build_optim_wrapper pops for its DefaultOptimWrapperConstructor.
RUNNER_HOOK_KEYS = frozenset({'priority'})
RUNNER_SCHEDULER_KEYS = frozenset({'convert_to_iter_based'})
RUNNER_DATALOADER_KEYS = frozenset({
    'dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn',
    'num_batch_per_epoch', 'disable_subprocess_warning'
})
RUNNER_OPTIM_WRAPPER_KEYS = frozenset({'constructor', 'paramwise_cfg'})
# What DefaultOptimWrapperConstructor.add_params reads from paramwise_cfg.
PARAMWISE_KEYS = frozenset({
    'custom_keys', 'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult',
    'dwconv_decay_mult', 'flat_decay_mult', 'bypass_duplicate',
    'dcn_offset_lr_mult'
})
# The arguments CheckpointHook passes to Runner.save_checkpoint itself; its
# **kwargs (stored as self.args) go there too, and only at the first save.
_SAVE_CHECKPOINT_PASSED = frozenset({
    'self', 'out_dir', 'filename', 'file_client_args', 'save_optimizer',
    'save_param_scheduler', 'meta', 'by_epoch', 'backend_args'
})


def _parameters(func: Callable) -> Optional[Tuple[FrozenSet[str], bool]]:
    """(names that ``func`` takes by keyword, whether it takes **kwargs), or
    None when Python cannot read its signature (a C function)."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    names = frozenset(
        p.name for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) - {'self'}
    return names, any(p.kind == p.VAR_KEYWORD for p in parameters)


def _save_checkpoint_keywords() -> FrozenSet[str]:
    names, _ = _parameters(Runner.save_checkpoint)
    return names - _SAVE_CHECKPOINT_PASSED


# Classes whose **kwargs go somewhere other than a base class's __init__.
_KWARGS_GO_TO: Dict[type, Callable[[], FrozenSet[str]]] = {
    CheckpointHook: _save_checkpoint_keywords
}


def accepted_keywords(target: Callable) -> Optional[FrozenSet[str]]:
    """The keyword arguments a registered class (or function) accepts.

    A class's ``__init__`` that takes ``**kwargs`` is followed up its MRO to
    the base ``__init__`` that names them, as ``super().__init__(**kwargs)``
    passes them (``PolyLR`` -> ``PolyParamScheduler``, ``AmpOptimWrapper`` ->
    ``OptimWrapper``); ``CheckpointHook``'s go to ``Runner.save_checkpoint``.

    Args:
        target (Callable): The class or function.

    Returns:
        frozenset[str], optional: The names; None when ``**kwargs`` reach no
        ``__init__`` that names them, so that any name may be valid.
    """
    if not inspect.isclass(target):
        params = _parameters(target)
        return None if params is None or params[1] else params[0]
    accepted, takes_kwargs = set(), False
    for klass in target.__mro__:
        init = vars(klass).get('__init__')
        if init is None:
            continue
        if klass is object:  # takes nothing; **kwargs reaching it: unknown
            return None if takes_kwargs else frozenset(accepted)
        params = _parameters(init)
        if params is None:
            return None
        accepted |= params[0]
        if klass in _KWARGS_GO_TO:
            return frozenset(accepted | _KWARGS_GO_TO[klass]())
        if not params[1]:
            return frozenset(accepted)
        takes_kwargs = True
    return None


def _resolve(registry: Registry, type_, scope: Optional[str]):
    """The class (or function) that ``registry`` builds for ``type_`` in
    ``scope``, as the runner would; None when it is not registered."""
    if not isinstance(type_, str):
        return type_
    with registry.switch_scope_and_registry(scope) as scoped:
        return scoped.get(type_)


class _ArgumentCheck:
    """Collects unknown keys and the entries it could not check."""

    def __init__(self, scope: Optional[str]) -> None:
        self.scope = scope
        self.problems: List[str] = []
        self.skipped: List[str] = []

    def entry(self, path: str, entry, registry: Registry, *,
              default_type: Optional[str] = None,
              runner_keys: FrozenSet[str] = frozenset()) -> None:
        """Check one ``dict(type=..., **kwargs)`` entry at config key
        ``path``; ``runner_keys`` are read by the runner itself."""
        if not isinstance(entry, dict):
            return
        type_ = entry.get('type', default_type)
        if type_ is None:
            return  # mmengine's builder names a missing type itself
        # Entries from mmseg:: bases carry the scope they were written in.
        target = _resolve(registry, type_, entry.get('_scope_', self.scope))
        if target is None:
            self.skipped.append(f'{path}: {type_!r} is not registered in '
                                f'{registry.name} (the runner will say so)')
            return
        name = getattr(target, '__name__', str(type_))
        accepted = accepted_keywords(target)
        if accepted is None:
            self.skipped.append(f'{path}: {name} takes **kwargs that no base '
                                'class names, so any key may be valid')
            return
        valid = accepted | runner_keys
        self.problems += [
            _unknown(path, key, name, valid) for key in entry
            if key not in ('type', '_scope_') and key not in valid
        ]

    def keys(self, path: str, entry, valid: FrozenSet[str],
             owner: str) -> None:
        """Check a plain dict of options (no ``type``) against ``valid``."""
        if isinstance(entry, dict):
            self.problems += [
                _unknown(path, key, owner, valid) for key in entry
                if key != '_scope_' and key not in valid
            ]


def _unknown(path: str, key: str, owner: str, valid) -> str:
    close = difflib.get_close_matches(key, sorted(valid), n=1)
    fix = (f'did you mean {path}.{close[0]}?' if close else
           f'{owner} takes {", ".join(sorted(valid))}')
    return f'{path}.{key}: {owner} has no argument {key!r}; {fix}'


def check_config_arguments(cfg: Config) -> List[str]:
    """Check every keyword argument of the run's hooks, optimizer, optimizer
    wrapper, schedulers and dataloaders against what its class takes.

    Runs before anything is built, so that a typo (``intervall``,
    ``max_keep_ckpt``, ``momentun``) stops the run at its start, naming the
    config key and the closest valid one, instead of at the first checkpoint
    (mmengine's ``CheckpointHook`` passes unknown keys on to
    ``save_checkpoint``) or the first iteration. Classes are found in the
    registries of the config's ``default_scope``, as the runner finds them.

    Args:
        cfg (Config): The run's config (``--cfg-options`` merged).

    Returns:
        list[str]: The entries that could not be checked and why (a type
        that is not registered, a class taking ``**kwargs`` that no base
        names); also logged.

    Raises:
        ConfigArgumentError: Names every unknown key and its closest valid
            spelling.
    """
    check = _ArgumentCheck(cfg.get('default_scope'))
    for name, hook in (cfg.get('default_hooks') or {}).items():
        check.entry(f'default_hooks.{name}', hook, HOOKS,
                    runner_keys=RUNNER_HOOK_KEYS)
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        check.entry(f'custom_hooks[{i}]', hook, HOOKS,
                    runner_keys=RUNNER_HOOK_KEYS)
    _check_optim_wrapper(check, cfg.get('optim_wrapper'))
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict) and 'type' in schedulers:
        schedulers = [schedulers]
    if isinstance(schedulers, dict):  # one list per optimizer
        named = [(f'param_scheduler.{k}', v) for k, v in schedulers.items()]
    else:
        named = [('param_scheduler', schedulers)]
    for prefix, entries in named:
        entries = [entries] if isinstance(entries, dict) else entries or []
        for i, scheduler in enumerate(entries):
            check.entry(f'{prefix}[{i}]', scheduler, PARAM_SCHEDULERS,
                        runner_keys=RUNNER_SCHEDULER_KEYS)
    loader_keys = accepted_keywords(DataLoader) | RUNNER_DATALOADER_KEYS
    for split in ('train', 'val', 'test'):
        path, loader = f'{split}_dataloader', cfg.get(f'{split}_dataloader')
        if not isinstance(loader, dict):
            continue
        check.keys(path, loader, loader_keys, 'the runner\'s DataLoader')
        for key in ('sampler', 'batch_sampler'):
            check.entry(f'{path}.{key}', loader.get(key), DATA_SAMPLERS)
        for key in ('collate_fn', 'worker_init_fn'):
            check.entry(f'{path}.{key}', loader.get(key), FUNCTIONS)
    for line in check.skipped:
        print_log(f'config check: not checked: {line}', logger='current',
                  level=logging.INFO)
    if check.problems:
        raise ConfigArgumentError('\n'.join(
            ['the config passes arguments that their classes do not take '
             '(each would fail when its class is built, a checkpoint hook '
             'only at the first save):'] + [f'  {p}' for p in check.problems]
            + ['fix them in the config or in --cfg-options']))
    return check.skipped


def _check_optim_wrapper(check: _ArgumentCheck, wrapper) -> None:
    if not isinstance(wrapper, dict):
        return
    constructor = wrapper.get('constructor', 'DefaultOptimWrapperConstructor')
    if constructor == 'DefaultOptimWrapperConstructor':
        check.entry('optim_wrapper', wrapper, OPTIM_WRAPPERS,
                    default_type='OptimWrapper',
                    runner_keys=RUNNER_OPTIM_WRAPPER_KEYS)
        check.keys('optim_wrapper.paramwise_cfg', wrapper.get('paramwise_cfg'),
                   PARAMWISE_KEYS, 'DefaultOptimWrapperConstructor')
    else:
        check.skipped.append(f'optim_wrapper: the constructor {constructor} '
                             'may read any key')
    check.entry('optim_wrapper.optimizer', wrapper.get('optimizer'),
                OPTIMIZERS)
