"""mmseg's dataset classes, with the data checked when the dataset is built.

mmseg turns an empty split file into ``need at least one array to
concatenate``, a blank line into the image ``JPEGImages/.jpg`` that fails
only when sampled, and a zero-byte image into ``cv2.error ... !buf.empty()``;
none names the file. These subclasses check every entry once, naming the
split file and line, and hand the class count to :class:`CheckSegLabels`.
"""
import os.path as osp
from typing import List, Optional

from mmseg.datasets import ADE20KDataset, BaseSegDataset, PascalVOCDataset
from mmseg.registry import DATASETS

__all__ = [
    'CheckedADE20KDataset', 'CheckedBaseSegDataset', 'CheckedPascalVOCDataset',
    'DataFileError'
]


class DataFileError(ValueError):
    """A split file, image or label file of a dataset is missing or bad."""


def _file_problem(path: str) -> Optional[str]:
    if not osp.isfile(path):
        return f'{path} does not exist'
    if osp.getsize(path) == 0:
        return f'{path} is empty (0 bytes)'
    return None


def _check_split_file(path: str) -> None:
    """One image name a line, no blank lines, at least one line."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    if not lines:
        raise DataFileError(
            f'split file {path} is empty: list one image name (without '
            'extension) a line')
    for number, line in enumerate(lines, 1):
        if len(line.split()) != 1:
            found = 'a blank line' if not line.strip() else repr(line)
            raise DataFileError(
                f'{path}, line {number}: found {found}, expected one image '
                'name (without extension); fix or remove the line')


class _CheckedMixin:
    """``load_data_list`` and ``prepare_data`` of a checked dataset."""

    def load_data_list(self) -> List[dict]:
        split = self.ann_file if self.ann_file and osp.isfile(
            self.ann_file) else None
        if split:
            _check_split_file(split)
        data_list = super().load_data_list()
        if not data_list:
            raise DataFileError(
                f'no images with suffix {self.img_suffix} in '
                f'{self.data_prefix.get("img_path")}: check data_root and '
                'data_prefix')
        num_classes = len(self.metainfo['classes'])
        for index, info in enumerate(data_list):
            info['num_classes'] = num_classes
            for key in ('img_path', 'seg_map_path'):
                problem = key in info and _file_problem(info[key])
                if problem:
                    where = f'{split}, line {index + 1}' if split else 'entry'
                    raise DataFileError(
                        f'{where}: {problem}; restore the file or remove '
                        'its entry')
        return data_list

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as error:
            info = self.get_data_info(idx)
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
