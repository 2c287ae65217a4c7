"""PASCAL VOC 2012 + SBD ("VOC aug") conversion.

Follows the training set of Long et al., "Fully Convolutional Networks for
Semantic Segmentation" (CVPR 2015) and MMSegmentation's ``voc_aug`` layout:
the class masks of the Semantic Boundaries Dataset (Hariharan et al., ICCV
2011, ``benchmark_RELEASE/dataset/cls/<id>.mat``) become palette PNGs in
``VOC2012/SegmentationClassAug`` and two image lists are written to
``VOC2012/ImageSets/Segmentation``:

* ``aug.txt``: SBD train and val ids that are in neither VOC train nor VOC val
  (9118 ids on the official data);
* ``trainaug.txt``: VOC train plus ``aug.txt`` (10582 ids), the set FCN and
  MMSegmentation train on while evaluating on VOC val.

Every file is written to a temporary name in its final folder and then moved
into place with :func:`os.replace`, so an interrupted run never leaves a
half-written PNG or list behind.
"""
import os
import os.path as osp
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

from mmengine.utils import ProgressBar

from ..fileio import (atomic_write, remove_stale_temporaries,
                      save_palette_png)
from .sbd import (IGNORE_INDEX, NUM_CLASSES, DatasetConversionError,
                  load_sbd_mask, voc_palette)

__all__ = [
    'DatasetConversionError', 'convert_voc_aug', 'load_sbd_mask',
    'voc_palette', 'write_id_list', 'OFFICIAL_LIST_SIZES',
    'OFFICIAL_AUG_SIZE', 'OFFICIAL_TRAINAUG_SIZE', 'IGNORE_INDEX',
    'NUM_CLASSES'
]

PathLike = Union[str, os.PathLike]

# Sizes of the official lists (VOC2012 ImageSets/Segmentation and SBD's
# dataset/{train,val}.txt); when the inputs have exactly these sizes the
# outputs must have the published sizes below.
OFFICIAL_LIST_SIZES = dict(
    voc_train=1464, voc_val=1449, sbd_train=8498, sbd_val=2857)
OFFICIAL_AUG_SIZE = 9118
OFFICIAL_TRAINAUG_SIZE = 10582
TMP_TAG = 'voc_aug'  # in the names of this module's temporary files


def write_id_list(ids: Iterable[str], path: PathLike) -> None:
    """Write one id per line to ``path`` atomically.

    Args:
        ids (Iterable[str]): Ids in the order to write.
        path (str | PathLike): Destination text file.
    """
    text = ''.join(f'{i}\n' for i in ids)
    atomic_write(path, lambda f: f.write(text.encode('ascii')), TMP_TAG)


def _read_id_list(path: str, what: str, hint: str) -> List[str]:
    """Read a list of ids (one per line, blank lines skipped)."""
    if not osp.isfile(path):
        raise DatasetConversionError(
            f'{what} list not found: expected the file {path}; {hint}')
    with open(path, encoding='utf-8') as f:
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        raise DatasetConversionError(
            f'{what} list {path} is empty; {hint}')
    return ids


def _resolve_sbd_root(aug_path: str) -> str:
    """Return the SBD folder holding ``dataset/cls`` for ``aug_path``."""
    for candidate in (aug_path, osp.join(aug_path, 'benchmark_RELEASE')):
        if osp.isdir(osp.join(candidate, 'dataset', 'cls')):
            return candidate
    raise DatasetConversionError(
        f'SBD class masks not found: expected {aug_path}/dataset/cls/ or '
        f'{aug_path}/benchmark_RELEASE/dataset/cls/ with one .mat file per '
        'image; pass the benchmark_RELEASE folder (or its parent) extracted '
        'from benchmark.tgz, or re-extract benchmark.tgz')


def _convert_one(sbd_id: str, cls_dir: str, out_dir: str, tag: str) -> str:
    """Convert ``cls_dir/<sbd_id>.mat`` into ``out_dir/<sbd_id>.png``."""
    label = load_sbd_mask(osp.join(cls_dir, f'{sbd_id}.mat'))
    save_palette_png(
        label, osp.join(out_dir, f'{sbd_id}.png'), voc_palette(), tag=tag)
    return sbd_id


def _check_official_sizes(sizes: Dict[str, int], aug: int,
                          trainaug: int) -> None:
    """Raise if the inputs are the official lists but the outputs are not."""
    if sizes != OFFICIAL_LIST_SIZES:
        return
    if aug != OFFICIAL_AUG_SIZE or trainaug != OFFICIAL_TRAINAUG_SIZE:
        raise DatasetConversionError(
            f'the input lists have the official sizes {sizes} but the result '
            f'has {aug} aug and {trainaug} trainaug ids, expected '
            f'{OFFICIAL_AUG_SIZE} and {OFFICIAL_TRAINAUG_SIZE}; the lists are '
            'probably edited or mixed between releases: re-extract '
            'VOCtrainval_11-May-2012.tar and benchmark.tgz')


def _check_writable(folder: str) -> None:
    """Create ``folder`` and write a probe file into it, or raise naming it."""
    probe = osp.join(folder, f'.write_probe.{TMP_TAG}')
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, 'wb') as f:
            f.write(b'probe')
        os.remove(probe)
    except OSError as error:
        raise DatasetConversionError(
            f'cannot write to {folder} ({error.strerror}); nothing was '
            'converted: make it writable, free disk space, or choose another '
            'folder with --out-dir') from error


def _convert_chunk(func: Callable, ids: Sequence[str]) -> List[str]:
    """Apply ``func`` to each id in a worker; the ids done."""
    return [func(sbd_id) for sbd_id in ids]


def _how_it_ended(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f'was killed by {signal.Signals(-exitcode).name}'
        except ValueError:
            return f'was killed by signal {-exitcode}'
    return f'exited with status {exitcode}'


def _run(ids: Sequence[str], func: Callable, nproc: int) -> None:
    """Apply ``func`` to every id, in ``nproc`` processes, with progress.

    A worker that dies (the OOM killer, a SIGKILL) breaks the pool at once
    (``concurrent.futures`` notices a dead worker; ``multiprocessing.Pool``
    waits for its result forever).

    Raises:
        DatasetConversionError: A worker died; names it, how it ended and
            the ids not converted.
    """
    bar = ProgressBar(len(ids))
    try:
        if nproc == 1:
            for sbd_id in ids:
                func(sbd_id)
                bar.update()
            return
        size = max(1, min(64, len(ids) // (4 * nproc)))
        chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
        done, workers = set(), {}
        # Leaving the block waits for every worker, after an error too.
        with ProcessPoolExecutor(nproc) as pool:
            futures = [pool.submit(_convert_chunk, func, c) for c in chunks]
            # CPython 3.8-3.13 keeps the workers, pid -> Process, here.
            workers.update(pool._processes or {})
            try:
                for future in as_completed(futures):
                    converted = future.result()
                    done.update(converted)
                    bar.update(len(converted))
            except BrokenProcessPool:
                broken = True
            except BaseException:  # a bad .mat, Ctrl-C: start no new chunk
                pool.shutdown(cancel_futures=True)
                raise
            else:
                broken = False
        if broken:
            _raise_dead_worker(workers, [i for i in ids if i not in done],
                               len(ids))
    finally:
        bar.file.write('\n')  # an error message starts on its own line


def _raise_dead_worker(workers: dict, left: List[str], total: int) -> None:
    # The pool ends the other workers with SIGTERM once one is dead.
    dead = [p for p in workers.values()
            if p.exitcode not in (0, -signal.SIGTERM)] or list(
                workers.values())
    who = '; '.join(f'worker {p.pid} {_how_it_ended(p.exitcode)}'
                    for p in dead)
    raise DatasetConversionError(
        f'{who}: {len(left)} of {total} ids were not converted (e.g. '
        f'{", ".join(left[:3])}) and the lists were not written; the PNGs '
        'written are complete. If the machine ran out of memory, rerun with '
        'a smaller --nproc; the rerun converts everything again')


def convert_voc_aug(devkit_path: PathLike,
                    aug_path: PathLike,
                    out_dir: Optional[PathLike] = None,
                    *,
                    nproc: int = 1) -> Dict[str, Union[int, str]]:
    """Convert SBD masks to VOC PNGs and write ``aug.txt``/``trainaug.txt``.

    All list files and folders are checked, and every listed id must have its
    ``.mat`` file, before anything is written. The lists are written last, so
    they only appear once every mask was converted.

    Args:
        devkit_path (str | PathLike): Folder holding ``VOC2012/`` (e.g.
            ``data/VOCdevkit``).
        aug_path (str | PathLike): SBD's ``benchmark_RELEASE`` folder (holding
            ``dataset/cls``) or its parent.
        out_dir (str | PathLike, optional): Where the PNGs go. Defaults to
            ``devkit_path/VOC2012/SegmentationClassAug``.
        nproc (int): Number of worker processes. Defaults to 1.

    Returns:
        dict: ``converted``, ``aug`` and ``trainaug`` (numbers of PNGs and of
        ids in each list) and ``out_dir``, ``aug_file``, ``trainaug_file``
        (the paths written).

    Raises:
        DatasetConversionError: If an input folder, list or ``.mat`` file is
            missing or invalid, an output folder is not writable, the
            official-size check fails, or a worker process died (named with
            its signal and the ids left; the lists are not written).
        OSError: A write failed midway (a full disk); names the file.
    """
    if not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f'nproc must be a positive integer, got {nproc!r}')
    devkit_path, aug_path = os.fspath(devkit_path), os.fspath(aug_path)
    voc_root = osp.join(devkit_path, 'VOC2012')
    if not osp.isdir(voc_root):
        raise DatasetConversionError(
            f'VOC 2012 folder not found: expected {voc_root}/ ; pass the '
            'VOCdevkit folder that VOCtrainval_11-May-2012.tar extracts to')
    list_dir = osp.join(voc_root, 'ImageSets', 'Segmentation')
    voc_hint = 're-extract VOCtrainval_11-May-2012.tar'
    voc_train = _read_id_list(
        osp.join(list_dir, 'train.txt'), 'VOC train', voc_hint)
    voc_val = _read_id_list(osp.join(list_dir, 'val.txt'), 'VOC val', voc_hint)

    sbd_root = _resolve_sbd_root(aug_path)
    cls_dir = osp.join(sbd_root, 'dataset', 'cls')
    sbd_hint = 're-extract benchmark.tgz (the SBD archive)'
    sbd_train = _read_id_list(
        osp.join(sbd_root, 'dataset', 'train.txt'), 'SBD train', sbd_hint)
    sbd_val = _read_id_list(
        osp.join(sbd_root, 'dataset', 'val.txt'), 'SBD val', sbd_hint)

    sbd_ids = sorted(set(sbd_train) | set(sbd_val))
    missing = [
        i for i in sbd_ids if not osp.isfile(osp.join(cls_dir, f'{i}.mat'))
    ]
    if missing:
        raise DatasetConversionError(
            f'{len(missing)} of {len(sbd_ids)} listed SBD ids have no mask in '
            f'{cls_dir}, e.g. '
            f'{osp.join(cls_dir, missing[0] + ".mat")}; expected one .mat per '
            f'id of dataset/train.txt and dataset/val.txt; {sbd_hint}')

    aug = sorted(set(sbd_ids) - set(voc_train) - set(voc_val))
    trainaug = sorted(set(voc_train) | set(aug))
    sizes = dict(
        voc_train=len(set(voc_train)),
        voc_val=len(set(voc_val)),
        sbd_train=len(set(sbd_train)),
        sbd_val=len(set(sbd_val)))
    _check_official_sizes(sizes, len(aug), len(trainaug))

    out_dir = os.fspath(out_dir) if out_dir is not None else osp.join(
        voc_root, 'SegmentationClassAug')
    for folder in (out_dir, list_dir):
        _check_writable(folder)
        # Left by a killed conversion: no other one may write there now.
        remove_stale_temporaries(folder, TMP_TAG)
    tag = f'{TMP_TAG}{os.urandom(4).hex()}.'
    func = partial(_convert_one, cls_dir=cls_dir, out_dir=out_dir, tag=tag)
    try:
        _run(sbd_ids, func, nproc)
    finally:
        remove_stale_temporaries(out_dir, tag)

    aug_file = osp.join(list_dir, 'aug.txt')
    trainaug_file = osp.join(list_dir, 'trainaug.txt')
    write_id_list(aug, aug_file)
    write_id_list(trainaug, trainaug_file)
    return dict(
        converted=len(sbd_ids),
        aug=len(aug),
        trainaug=len(trainaug),
        out_dir=out_dir,
        aug_file=aug_file,
        trainaug_file=trainaug_file)
