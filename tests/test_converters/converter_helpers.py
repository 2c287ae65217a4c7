"""Building fcn_mm's side of a converter round trip (``tests/test_converters``
is on ``sys.path`` as the folder of its conftest)."""
import copy

import torch
from mmengine.config import Config
from mmseg.models.utils import resize
from mmseg.registry import MODELS

from fcn_mm.converters.runner import CONFIG_ROOT


def build(config, options=None):
    """The model of ``configs/<config>`` with ``--cfg-options``."""
    cfg = Config.fromfile(CONFIG_ROOT / config)
    cfg.merge_from_dict(options or {})
    return MODELS.build(copy.deepcopy(cfg.model))


def fcn_mm_outputs(model, x, *, align_corners):
    """Decode and auxiliary logits at the input size, then the decode head's
    extra outputs (EncNet's SE logits)."""
    model.eval()
    metas = [dict(img_shape=x.shape[2:])] * len(x)
    with torch.no_grad():
        feats = model.extract_feat(x)
        out = model.decode_head.predict(feats, metas, model.test_cfg)
        aux = resize(model.auxiliary_head(feats), size=x.shape[2:],
                     mode='bilinear', align_corners=align_corners)
        raw = model.decode_head(feats)
    return (out, aux) + (tuple(raw[1:]) if isinstance(raw, tuple) else ())
