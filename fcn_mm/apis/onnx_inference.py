"""Segmenting image files with an exported ONNX graph in onnxruntime.

The config's test pipeline loads (and resizes, if it does) the image as for
PyTorch; the graph of :mod:`fcn_mm.apis.export` normalises and segments; the
logits are resized back to the original image as mmseg's
``postprocess_result`` does, so the labels are those of ``inference_model``.
"""
import copy
from types import SimpleNamespace
from typing import Optional

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.models.utils import resize
from mmseg.registry import DATASETS

from ..errors import ConfigError
from .export import onnx_session

__all__ = ['OnnxSegmentor', 'dataset_meta']


def dataset_meta(cfg: Config) -> dict:
    """The classes and palette of a config's test dataset, as mmseg's dataset
    derives them, without reading its files.

    The dataset class's ``METAINFO`` updated with the config's ``metainfo``
    (how the own-data recipe names its classes), a subset of the classes
    getting their palette entries and a missing palette mmseg's seeded one,
    as ``BaseSegDataset.__init__`` does (mmseg 1.2.2).

    Args:
        cfg (Config): A config with ``test_dataloader.dataset`` (a wrapper
            such as ``ConcatDataset`` gives its first dataset's).

    Returns:
        dict: With ``classes`` and ``palette``.

    Raises:
        ConfigError: The config gives no classes for its test dataset (a
            ``ValueError``).
    """
    dataset = cfg.test_dataloader.dataset
    while 'datasets' in dataset or 'dataset' in dataset:  # wrappers
        dataset = dataset['datasets'][0] if 'datasets' in dataset \
            else dataset['dataset']
    dataset_cls = DATASETS.get(dataset.type)
    meta = dataset_cls._load_metainfo(copy.deepcopy(dataset.get('metainfo')))
    if not meta.get('classes'):
        raise ConfigError(
            f'test_dataloader.dataset ({dataset.type}) of the config names no '
            "classes; give them as its metainfo=dict(classes=(...), "
            'palette=[...]), as in configs/custom/')
    label_map = dataset_cls.get_label_map(meta['classes'])
    # _update_palette reads only these two attributes of the dataset.
    meta['palette'] = dataset_cls._update_palette(
        SimpleNamespace(_metainfo=meta, label_map=label_map))
    return meta


class OnnxSegmentor:
    """An exported segmentor that segments image files.

    Args:
        onnx_path (str): The ``.onnx`` file of ``tools/deploy/export_onnx.py``.
        cfg (Config): The config it was exported from (for the test pipeline,
            the decode head's ``align_corners`` and the dataset's palette).
        threads (int, optional): onnxruntime intra-op threads. Defaults to
            None (onnxruntime's choice).

    Raises:
        ValueError: The graph has no ``image`` input or ``logits`` output.
    """

    def __init__(self, onnx_path: str, cfg: Config, *,
                 threads: Optional[int] = None):
        self.session = onnx_session(onnx_path, threads=threads)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != ['image'] or 'logits' not in outputs:
            raise ValueError(
                f'{onnx_path}: expected the input image and the output logits '
                f'of tools/deploy/export_onnx.py, found inputs {inputs} and '
                f'outputs {outputs}; export the model with that tool')
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        # As mmseg's inference_model on an image in memory: the test
        # pipeline without labels, loading from the array.
        pipeline = [
            t for t in cfg.test_pipeline if t['type'] != 'LoadAnnotations'
        ]
        pipeline[0] = dict(type='LoadImageFromNDArray')
        self.pipeline = Compose(pipeline)
        self.align_corners = cfg.model.decode_head.get('align_corners', False)
        self.dataset_meta = dataset_meta(cfg)

    def logits(self, image: np.ndarray) -> torch.Tensor:
        """(1, K, H, W) float32 logits at the size of ``image``, an (H, W, 3)
        BGR array as ``mmcv.imread`` gives."""
        data = self.pipeline(dict(img=image))
        image = data['inputs'][None].float().numpy()  # (1, 3, h, w) BGR
        logits = torch.from_numpy(
            self.session.run(['logits'], {'image': image})[0])
        ori_shape = tuple(data['data_samples'].ori_shape)
        if tuple(logits.shape[2:]) != ori_shape:
            logits = resize(logits, size=ori_shape, mode='bilinear',
                            align_corners=self.align_corners, warning=False)
        if not torch.isfinite(logits).all():
            raise ValueError('the ONNX model gave NaN or inf logits')
        return logits

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W) class indices of a BGR image: a segmenter for
        :func:`fcn_mm.apis.inference.predict_images`."""
        return self.logits(image)[0].argmax(0).numpy()
