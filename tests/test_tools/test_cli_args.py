"""Command lines of tools/train.py and tools/test.py and what they do to the
config (fcn_mm.apis.cli and .run_config)."""
import importlib.util
import os
import os.path as osp
from pathlib import Path

import pytest
from mmengine.config import Config

from fcn_mm.apis import (drop_training, enable_amp, enable_test_outputs,
                         enable_tta, load_run_config)
from fcn_mm.engine.runner import build_runner

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'demo' /
             'fcn8s_vgg16-tiny_1xb8-300it_voc12aug-96x96.py')


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        f'fcn_mm_tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def train_tool():
    return _tool('train')


@pytest.fixture(scope='module')
def test_tool():
    return _tool('test')


@pytest.mark.parametrize('spelling', ['--local-rank', '--local_rank'])
def test_both_local_rank_spellings(train_tool, test_tool, spelling):
    assert train_tool.parse_args([CONFIG, spelling, '3']).local_rank == 3
    args = test_tool.parse_args([CONFIG, CONFIG, f'{spelling}=2'])
    assert args.local_rank == 2


def test_local_rank_goes_to_the_environment(monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    load_run_config(CONFIG, local_rank=3)
    assert os.environ['LOCAL_RANK'] == '3'
    # A launcher's own LOCAL_RANK wins.
    load_run_config(CONFIG, local_rank=5)
    assert os.environ['LOCAL_RANK'] == '3'


def test_train_options_reach_the_config(train_tool):
    args = train_tool.parse_args([
        CONFIG, '--work-dir', 'somewhere', '--resume', '--launcher', 'slurm',
        '--cfg-options', 'train_cfg.max_iters=7',
        'model.decode_head.dropout_ratio=0.5', 'train_dataloader.batch_size=3'
    ])
    assert args.resume == 'auto' and not args.amp
    assert train_tool.parse_args([CONFIG, '--resume', 'w/iter_4.pth'
                                  ]).resume == 'w/iter_4.pth'
    assert train_tool.parse_args([CONFIG]).resume is None
    cfg = load_run_config(
        args.config, work_dir=args.work_dir, cfg_options=args.cfg_options,
        launcher=args.launcher)
    assert cfg.train_cfg.max_iters == 7
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'  # merged, not replaced
    assert cfg.model.decode_head.dropout_ratio == 0.5
    assert cfg.train_dataloader.batch_size == 3
    assert cfg.work_dir == 'somewhere'
    assert cfg.launcher == 'slurm'


def test_work_dir_defaults_to_the_config_name(tmp_path):
    assert load_run_config(CONFIG).work_dir == osp.join(
        './work_dirs', 'fcn8s_vgg16-tiny_1xb8-300it_voc12aug-96x96')
    own = tmp_path / 'own.py'
    own.write_text(f"_base_ = '{CONFIG}'\nwork_dir = 'mine'\n")
    assert load_run_config(str(own)).work_dir == 'mine'
    assert load_run_config(str(own), work_dir='cli').work_dir == 'cli'


def test_missing_config_is_a_usage_error(train_tool, test_tool, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_tool.parse_args(['configs/nope.py'])
    assert exit_info.value.code == 2
    assert "no file at 'configs/nope.py'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        test_tool.parse_args([CONFIG, 'nope.pth'])
    assert "no file at 'nope.pth'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_run_config('nope.py')


def test_missing_config_from_the_shell(tmp_path, run_tool):
    result = run_tool('train', 'configs/nope.py', cwd=tmp_path,
                      expect_success=False)
    assert result.returncode == 2
    assert "argument config: no file at 'configs/nope.py'" in result.stdout
    assert 'Traceback' not in result.stdout


def test_amp_switches_the_optimizer_wrapper():
    # With CUDA; tests/test_deploy/test_cpu_amp.py has the CPU's bf16 wrapper.
    cfg = load_run_config(CONFIG)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    enable_amp(cfg, cuda=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    enable_amp(cfg, cuda=True)  # already on: unchanged
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    cfg.optim_wrapper.type = 'ApexOptimWrapper'
    with pytest.raises(ValueError, match="'ApexOptimWrapper'"):
        enable_amp(cfg, cuda=True)


def test_out_and_show_dir_reach_metric_and_visualizer():
    cfg = load_run_config(CONFIG)
    enable_test_outputs(cfg, out='preds', show_dir='painted')
    assert cfg.test_evaluator.output_dir == 'preds'
    assert cfg.test_evaluator.keep_results is True
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.default_hooks.visualization.interval == 1
    assert cfg.visualizer.save_dir == 'painted'
    # fcn_mm's writers: atomic, and a failed write raises naming the file.
    assert cfg.test_evaluator.type == 'AtomicIoUMetric'
    assert [b.type for b in cfg.visualizer.vis_backends] == [
        'AtomicLocalVisBackend'
    ]
    cfg.default_hooks.pop('visualization')
    with pytest.raises(KeyError, match='SegVisualizationHook'):
        enable_test_outputs(cfg, show_dir='painted')


def test_tta_swaps_pipeline_and_wraps_the_model():
    cfg = load_run_config(CONFIG)
    model = cfg.model.copy()
    enable_tta(cfg)
    assert cfg.model.type == 'SegTTAModel'
    assert cfg.model.module == model
    assert cfg.test_dataloader.dataset.pipeline == cfg.tta_pipeline
    cfg = load_run_config(CONFIG)
    cfg.pop('tta_pipeline')
    with pytest.raises(KeyError, match='tta_pipeline'):
        enable_tta(cfg)


def test_drop_training_leaves_a_test_only_config():
    cfg = load_run_config(CONFIG)
    drop_training(cfg)
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler'):
        assert cfg[key] is None
    assert cfg.test_dataloader.dataset.type == 'CheckedPascalVOCDataset'


def test_runner_type_picks_a_registered_runner():
    from mmseg.registry import RUNNERS

    class _RecordingRunner:

        def __init__(self, work_dir):
            self.work_dir, self.hooks = work_dir, []

        @classmethod
        def from_cfg(cls, cfg):
            return cls(cfg.work_dir)

        def register_hook(self, hook):  # build_runner adds fcn_mm's hooks
            self.hooks.append(hook)

    RUNNERS.register_module(name='_FcnMmRecordingRunner',
                            module=_RecordingRunner)
    try:
        cfg = Config(dict(runner_type='_FcnMmRecordingRunner', work_dir='w'))
        runner = build_runner(cfg)
        assert type(runner) is _RecordingRunner and runner.work_dir == 'w'
    finally:
        RUNNERS._module_dict.pop('_FcnMmRecordingRunner')
