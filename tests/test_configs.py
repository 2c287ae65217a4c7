"""Every config in configs/ loads and builds its model; the FCN-8s modes train."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import MODELS

import fcn_mm  # noqa: F401  (registers the models)

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
CONFIGS = sorted(
    p for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')  # what the runner does from default_scope


def test_configs_are_found():
    names = {p.relative_to(CONFIG_DIR).as_posix() for p in CONFIGS}
    assert {'fcn8s_voc_aug.py', 'demo/fcn8s_vgg16-tiny_1xb8-300it_voc12aug-96x96.py'} <= names


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[p.relative_to(CONFIG_DIR).as_posix() for p in CONFIGS])
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ['fcn_mm'], \
        'every config must reach fcn_mm through the runtime base'
    assert cfg.default_scope == 'mmseg'
    model = MODELS.build(cfg.model)
    assert model.decode_head.num_classes == cfg.model.decode_head.num_classes
    if cfg.train_dataloader.dataset.type != 'ConcatDataset':
        return
    # Schedules end where the poly decay ends.
    assert cfg.param_scheduler[0].end == cfg.train_cfg.max_iters


@pytest.mark.parametrize('mode', ['caffe', 'modern'])
def test_fcn8s_trains_two_iterations(mode, demo_voc_root, tmp_path):
    cfg = Config.fromfile(CONFIG_DIR / 'demo' / 'fcn8s_vgg16-tiny_1xb8-300it_voc12aug-96x96.py')
    cfg.work_dir = str(tmp_path)
    cfg.model.backbone.mode = cfg.model.decode_head.mode = mode
    if mode == 'caffe':
        cfg.model.backbone.norm_cfg = None
    for ds in cfg.train_dataloader.dataset.datasets:
        ds.data_root = demo_voc_root
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=100)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    after = runner.model.state_dict()
    assert (tmp_path / 'iter_2.pth').is_file()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith('backbone.conv1_1') for k in changed)
    # the reference net keeps its bilinear upsampling frozen
    upscore_changed = 'decode_head.upscore8.weight' in changed
    assert upscore_changed == (mode == 'modern')
    scalars = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(scalars) == 2 and all(torch.isfinite(torch.tensor(scalars)))
