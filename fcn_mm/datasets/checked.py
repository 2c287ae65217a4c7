"""mmseg's dataset classes, with the data checked when the dataset is built.

mmseg turns an empty split file into ``need at least one array to
concatenate``, a blank line into the image ``JPEGImages/.jpg`` that fails
only when sampled, a zero-byte image into ``cv2.error ... !buf.empty()`` and
a split file that is not UTF-8 into a bare ``UnicodeDecodeError``; none names
the file. Its ``LoadAnnotations`` casts every label to uint8, so a 16-bit
label 300 trains as class 44, and squeezes a 1-pixel-high label to 1-D.
Binary masks saved as 0/255 (the usual mask format) evaluate with every
object pixel ignored as 255 and report mIoU 100. These subclasses check
every split entry once, sample the labels (:data:`LABEL_SAMPLES` of them)
for values the model cannot learn from, check each label file's raw values
before mmseg casts them, and hand the class count to
:class:`~fcn_mm.datasets.transforms.CheckSegLabels`.
"""
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
from mmseg.datasets import ADE20KDataset, BaseSegDataset, PascalVOCDataset
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import DATASETS
from PIL import Image

from ..errors import FcnMmError

__all__ = [
    'CheckedADE20KDataset', 'CheckedBaseSegDataset', 'CheckedPascalVOCDataset',
    'DataFileError', 'LABEL_SAMPLES'
]

# Labels decoded when a dataset is built, evenly spread over the split (the
# first and the last included): 0/255 masks are how a whole dataset was
# saved, so any file shows it, and a real 2-class split would need all 32
# files without one object pixel to be taken for one. Loaded as training
# loads them, 32 VOC labels add about 0.4 s to building a dataset (2 shared
# AMD EPYC cores, 13 ms a label over 320); all 10582 of VOC aug would add
# about 140 s to every start.
LABEL_SAMPLES = 32


class DataFileError(FcnMmError, ValueError):
    """A split file, image or label file of a dataset is missing or bad."""


def _file_problem(path: str) -> Optional[str]:
    if not osp.isfile(path):
        return f'{path} does not exist'
    if osp.getsize(path) == 0:
        return f'{path} is empty (0 bytes)'
    return None


def _check_split_file(path: str) -> None:
    """One image name a line, no blank lines or duplicates, at least one."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        lines = data.decode('utf-8').splitlines()
    except UnicodeDecodeError as error:
        line = data.count(b'\n', 0, error.start) + 1
        raise DataFileError(
            f'{path}, line {line}: byte {data[error.start]:#04x} is not '
            'UTF-8; save the split file as UTF-8 (e.g. iconv -f latin1 -t '
            'utf-8 OLD > NEW)') from None
    if not lines:
        raise DataFileError(
            f'split file {path} is empty: list one image name (without '
            'extension) a line')
    first_line = {}
    for number, line in enumerate(lines, 1):
        if len(line.split()) != 1:
            found = 'a blank line' if not line.strip() else repr(line)
            raise DataFileError(
                f'{path}, line {number}: found {found}, expected one image '
                'name (without extension); fix or remove the line')
        name = line.strip()
        if name in first_line:
            raise DataFileError(
                f'{path}, lines {first_line[name]} and {number}: {name!r} is '
                'listed twice (it would count twice in training and '
                'evaluation); remove one of the lines')
        first_line[name] = number


def _check_raw_label(path: str) -> None:
    """Refuse a label file that mmseg's ``LoadAnnotations`` would change.

    mmseg 1.2.2 decodes labels with ``flag='unchanged'``, then ``squeeze()``
    and ``astype(np.uint8)``: a 16-bit or 32-bit value outside 0..255 wraps
    to another class (256 -> 0, 300 -> 44) and a label 1 pixel high or wide
    loses that dimension. Only the header is read, unless the file holds
    more than 8 bits a pixel. A file Pillow cannot open is left to the
    pipeline, which names it.

    Args:
        path (str): The label file.

    Raises:
        DataFileError: Naming the file and the values or size.
    """
    try:
        with Image.open(path) as image:
            width, height, mode = *image.size, image.mode
            if min(width, height) == 1:
                raise DataFileError(
                    f'{path}: the label is {width}x{height} (WxH) pixels; '
                    "mmseg's LoadAnnotations drops dimensions of size 1 "
                    '(np.squeeze), so a label and its image must be at '
                    'least 2x2: remove or replace this pair')
            if mode not in ('I', 'F') and not mode.startswith('I;'):
                return  # 8 bits a channel: the uint8 cast keeps every value
            values = np.unique(np.asarray(image))
    except OSError:
        return
    with np.errstate(invalid='ignore'):
        cast = values.astype(np.uint8)
    changed = values != cast
    if changed.any():
        pairs = ', '.join(f'{v} -> {c}' for v, c in zip(
            values[changed][:10].tolist(), cast[changed][:10].tolist()))
        raise DataFileError(
            f'{path}: label values {values[changed][:10].tolist()} do not '
            f'fit in 8 bits ({mode} image); mmseg casts labels to '
            f'uint8, which would turn them into other classes ({pairs}); '
            'write class indices 0..N-1 (255 = ignore) as an 8-bit '
            'grayscale or palette PNG')


def _is_label_map(label_map) -> bool:
    return isinstance(label_map, dict) and all(
        isinstance(v, int) and 0 <= v <= 255
        for pair in label_map.items() for v in pair)


class _CheckedMixin:
    """``load_data_list`` and ``prepare_data`` of a checked dataset.

    Args:
        label_map (dict[int, int], optional): Label values to replace when
            a label is loaded, ``{old: new}``, after ``reduce_zero_label``;
            mmseg's ``LoadAnnotations`` applies it as its own class-subset
            map. ``{255: 1}`` reads binary masks saved as 0/255 as the
            classes 0 and 1. Defaults to None.
    """

    def __init__(self,
                 *args,
                 label_map: Optional[Dict[int, int]] = None,
                 **kwargs) -> None:
        if label_map is not None and not _is_label_map(label_map):
            raise ValueError(
                f'{type(self).__name__}: label_map={label_map!r}; expected '
                'a dict of label values 0..255 to replace, {old: new} (e.g. '
                '{255: 1} for 0/255 masks), in the config file (not in '
                '--cfg-options, which passes a string)')
        self.user_label_map = dict(label_map) if label_map else None
        super().__init__(*args, **kwargs)
        if self.user_label_map:
            self._metainfo['label_map'] = self.user_label_map

    def load_data_list(self) -> List[dict]:
        if self.user_label_map and self.label_map:
            raise ValueError(
                f'{type(self).__name__}: label_map={self.user_label_map} '
                'given while metainfo classes select a subset of '
                f'{type(self).__name__}\'s classes (mmseg maps them with '
                f'{self.label_map}); give the full class list, or no '
                'label_map')
        img_dir = self.data_prefix.get('img_path')
        split = self.ann_file or None
        if split and not osp.isdir(split):
            if not osp.isfile(split):
                raise DataFileError(
                    f'ann_file {split} does not exist: write the split file '
                    'there (one image name without extension a line), or '
                    f"set ann_file='' to use every image in {img_dir}")
            _check_split_file(split)
        else:
            split = None
        data_list = super().load_data_list()
        if not data_list:
            names = os.listdir(img_dir) if osp.isdir(img_dir) else []
            found = sorted({osp.splitext(name)[1] for name in names})
            raise DataFileError(
                f'no images with img_suffix={self.img_suffix!r} in '
                f'{img_dir} (suffixes found there: {found}): check '
                'data_root, data_prefix and img_suffix')
        num_classes = len(self.metainfo['classes'])
        for index, info in enumerate(data_list):
            info['num_classes'] = num_classes
            if self.user_label_map:
                info['label_map'] = self.user_label_map
            for key in ('img_path', 'seg_map_path'):
                problem = key in info and _file_problem(info[key])
                if problem:
                    where = f'{split}, line {index + 1}' if split else 'entry'
                    raise DataFileError(
                        f'{where}: {problem}; restore the file or remove '
                        'its entry')
        self._check_label_sample(data_list, num_classes)
        return data_list

    def _check_label_sample(self, data_list: List[dict],
                            num_classes: int) -> None:
        """Load :data:`LABEL_SAMPLES` labels as training does; refuse values
        outside the classes, and a split of 0/255 masks."""
        labelled = [info for info in data_list if 'seg_map_path' in info]
        if not labelled:
            return
        count = min(LABEL_SAMPLES, len(labelled))
        picks = np.unique(np.linspace(0, len(labelled) - 1, count).round())
        load = LoadAnnotations()  # mmseg's: cast, reduce_zero_label, map
        ignore = self.ignore_index
        seen, paths = set(), []
        for info in (labelled[int(i)] for i in picks):
            path = info['seg_map_path']
            _check_raw_label(path)
            try:
                seg = load(dict(info, seg_fields=[]))['gt_seg_map']
            except Exception:
                continue  # unreadable: named when the pipeline loads it
            values = np.unique(seg)
            bad = values[(values >= num_classes) & (values != ignore)]
            if bad.size:
                raise DataFileError(
                    f'{path}: label values {bad[:10].tolist()} are outside '
                    f'the classes 0..{num_classes - 1} (the dataset has '
                    f"{num_classes} classes in metainfo['classes']; the "
                    f'ignore index is {ignore}); fix the labels, or set the '
                    'dataset classes and model.decode_head.num_classes to '
                    'match them')
            seen.update(values.tolist())
            paths.append(path)
        if ignore in seen and seen <= {0, ignore}:
            fix = (f'label_map={{{ignore}: 1}}' if num_classes == 2 else
                   f"2 classes in metainfo['classes'] and label_map="
                   f'{{{ignore}: 1}}')
            raise DataFileError(
                f'the labels hold only 0 and {ignore} in all {len(paths)} '
                f'label files checked ({", ".join(paths[:3])}'
                f'{", ..." if len(paths) > 3 else ""}): binary masks saved '
                f'as 0/{ignore}, whose objects would all be ignored as '
                f'{ignore} (the ignore index), leaving only background to '
                'learn and evaluate; add '
                f'{fix} to the dataset in the config (see "Train on your '
                'own data" in README.md), or write class indices 0..'
                f'{num_classes - 1}')

    def prepare_data(self, idx: int):
        info = self.get_data_info(idx)
        if 'seg_map_path' in info:
            _check_raw_label(info['seg_map_path'])
        try:
            return super().prepare_data(idx)
        except Exception as error:
            files = [
                info[k] for k in ('img_path', 'seg_map_path') if k in info
            ]
            if any(path in str(error) for path in files):
                raise
            raise DataFileError(
                f'could not load {" and ".join(files)}: '
                f'{type(error).__name__}: {error}') from error


@DATASETS.register_module()
class CheckedBaseSegDataset(_CheckedMixin, BaseSegDataset):
    """``BaseSegDataset`` whose split file, images and labels are checked."""


@DATASETS.register_module()
class CheckedPascalVOCDataset(_CheckedMixin, PascalVOCDataset):
    """``PascalVOCDataset`` whose split file, images and labels are checked."""


@DATASETS.register_module()
class CheckedADE20KDataset(_CheckedMixin, ADE20KDataset):
    """``ADE20KDataset`` whose images and labels are checked."""
