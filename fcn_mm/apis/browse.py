"""Look at a dataset as the model sees it: each image after the config's
pipeline, its labels drawn on it with a legend.

mmseg's ``browse_dataset`` draws with its OpenCV visualiser; this writes the
overlay that ``tools/predict.py`` writes, so labels and predictions look
alike. Pixels labelled 255 (ignored in training) stay uncoloured and are
listed as ``ignored``. Augmented splits (``train``) show one random draw of
the augmentation per image.
"""
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope

from fcn_mm.fileio import atomic_write, remove_stale_temporaries
from .inference import draw_overlay
from .preflight import check_data

__all__ = ['SPLITS', 'browse_dataset']

SPLITS = ('train', 'val', 'test')
IGNORE = 255
TMP_TAG = 'browse'  # the temporaries of its writes


def browse_dataset(cfg: Config, *, split: str = 'train', out_dir: str,
                   limit: Optional[int] = None,
                   opacity: float = 0.5) -> Iterator[Tuple[Path, int]]:
    """Write ``<index>_<image name>.png`` for the first ``limit`` samples.

    Args:
        cfg (Config): A config with ``<split>_dataloader``.
        split (str): 'train', 'val' or 'test'. Defaults to 'train'.
        out_dir (str): Folder for the PNGs; created if missing.
        limit (int, optional): Samples to draw. Defaults to all.
        opacity (float): Weight of the label colours. Defaults to 0.5.

    Yields:
        tuple[Path, int]: Each PNG, once complete, and how many there will
        be.

    Raises:
        ValueError: ``split`` is unknown or the config has no such loader.
        FileNotFoundError: The split's data files are missing (named).
    """
    if split not in SPLITS or not cfg.get(f'{split}_dataloader'):
        have = [s for s in SPLITS if cfg.get(f'{s}_dataloader')]
        raise ValueError(f'the config has no {split}_dataloader; browse one '
                         f'of {have}')
    check_data(cfg, split)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    from mmseg.registry import DATASETS
    dataset = DATASETS.build(cfg.get(f'{split}_dataloader').dataset)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out, TMP_TAG)  # of a killed earlier run
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for index in range(count):
        item = dataset[index]  # {'inputs': (3, H, W) BGR, 'data_samples'}
        sample = item['data_samples']
        image = item['inputs'].numpy().transpose(1, 2, 0)[..., ::-1]
        label = sample.gt_sem_seg.data[0].numpy().astype(np.int64)
        overlay = draw_overlay(np.ascontiguousarray(image), label,
                               classes=dataset.metainfo['classes'],
                               palette=dataset.metainfo['palette'],
                               opacity=opacity, ignore_index=IGNORE)
        path = out / f'{index:05d}_{Path(sample.img_path).stem}.png'
        atomic_write(path, lambda f: overlay.save(f, format='PNG'), TMP_TAG)
        yield path, count
