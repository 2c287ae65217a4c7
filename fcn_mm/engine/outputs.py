"""Test outputs written atomically, failing loudly with the path and reason.

mmseg's ``IoUMetric`` saves ``--out`` PNGs in place (a full disk leaves a
0-byte PNG), and mmengine's ``LocalVisBackend`` ignores the result of
``cv2.imwrite`` (``--show-dir`` on a full disk writes nothing and exits 0).
These subclasses write through :func:`fcn_mm.fileio.atomic_write`, which
raises an ``OSError`` naming the file; tools/test.py selects them.
"""
import os
import os.path as osp
from typing import Sequence

import cv2
import numpy as np
from mmengine.visualization.vis_backend import LocalVisBackend, force_init_env
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS, VISBACKENDS
from PIL import Image

from ..fileio import atomic_write

__all__ = ['AtomicIoUMetric', 'AtomicLocalVisBackend']


@METRICS.register_module()
class AtomicIoUMetric(IoUMetric):
    """``IoUMetric`` whose ``output_dir`` PNGs are written atomically.

    Same arguments and files as ``IoUMetric``: one grayscale PNG of class
    indices a test image, named after it (ADE20K's +1 for
    ``reduce_zero_label`` included).
    """

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        output_dir, self.output_dir = self.output_dir, None
        try:
            super().process(data_batch, data_samples)
        finally:
            self.output_dir = output_dir
        if output_dir is None:
            return
        for data_sample in data_samples:
            mask = data_sample['pred_sem_seg']['data'].squeeze().cpu().numpy()
            if data_sample.get('reduce_zero_label', False):
                mask = mask + 1
            name = osp.splitext(osp.basename(data_sample['img_path']))[0]
            image = Image.fromarray(mask.astype(np.uint8))
            atomic_write(
                osp.join(output_dir, f'{name}.png'),
                lambda f, image=image: image.save(f, format='PNG'))


@VISBACKENDS.register_module()
class AtomicLocalVisBackend(LocalVisBackend):
    """``LocalVisBackend`` whose images and config are written atomically,
    and whose failures raise naming the file instead of passing silently."""

    @force_init_env
    def add_config(self, config, **kwargs) -> None:
        atomic_write(self._config_save_file,
                     lambda f: f.write(config.pretty_text.encode()))

    def _dump(self, value_dict: dict, file_path: str,
              file_format: str) -> None:
        # Appends a line to scalars.json: appending cannot be atomic, but a
        # failure must name the file.
        try:
            super()._dump(value_dict, file_path, file_format)
        except OSError as error:
            raise OSError(error.errno, f'{error.strerror}: could not write '
                          f'{file_path}') from error

    @force_init_env
    def add_image(self,
                  name: str,
                  image: np.ndarray,
                  step: int = 0,
                  **kwargs) -> None:
        os.makedirs(self._img_save_dir, exist_ok=True)
        path = osp.join(self._img_save_dir, f'{name}_{step}.png')
        ok, encoded = cv2.imencode('.png',
                                   cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f'could not encode the image for {path}')
        atomic_write(path, lambda f: f.write(encoded.tobytes()))
