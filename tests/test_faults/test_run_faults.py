"""A diverging run, two runs in one work dir, bad data, a broken config and
test outputs and overlays on a full disk, through the tools as a user runs
them."""
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fault_helpers import start_train
from PIL import Image

from fcn_mm.apis import load_run_config
from fcn_mm.engine.checkpoint import load_from_local_weights_only
from fcn_mm.engine.runner import LOCK_FILE

@pytest.mark.slow
def test_diverging_run_stops_and_keeps_finite_checkpoints(
        tmp_path, deterministic_config, fault_options, run_tool):
    result = run_tool('train', deterministic_config, '--work-dir', tmp_path,
                      '--cfg-options', *fault_options,
                      'optim_wrapper.optimizer.lr=1e6',
                      'train_cfg.max_iters=6', cwd=tmp_path,
                      expect_success=False)
    assert result.returncode != 0
    assert 'error: iteration ' in result.stdout
    assert 'non-finite training step (losses: loss=' in result.stdout
    assert 'Iter(train) [6/6]' not in result.stdout
    for path in tmp_path.glob('iter_*.pth'):
        weights = load_from_local_weights_only(str(path))['state_dict']
        assert all(torch.isfinite(w).all() for w in weights.values()
                   if w.is_floating_point()), path


@pytest.mark.slow
def test_second_run_in_a_live_work_dir_is_refused(tmp_path,
                                                  deterministic_config,
                                                  fault_options, run_tool):
    first = start_train(deterministic_config, '--work-dir', tmp_path,
                        '--cfg-options', *fault_options,
                        'train_cfg.max_iters=100000', cwd=tmp_path,
                        log=tmp_path / 'first.log')
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / LOCK_FILE).is_file() or not (
                tmp_path / LOCK_FILE).read_text():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.1)
        second = run_tool('train', deterministic_config, '--work-dir',
                          tmp_path, '--cfg-options', *fault_options,
                          cwd=tmp_path, expect_success=False)
    finally:
        first.kill()
        first.wait()
    assert second.returncode != 0
    assert (f'error: work dir {tmp_path} is in use by another training run '
            f'(PID {first.pid}') in second.stdout
    assert 'Iter(train)' not in second.stdout


@pytest.mark.slow
def test_label_of_another_size_names_both_files(tmp_path, demo_voc_root,
                                                demo_config, demo_options,
                                                run_tool):
    root = tmp_path / 'VOC2012'
    shutil.copytree(demo_voc_root, root)
    for folder in ('SegmentationClass', 'SegmentationClassAug'):
        for path in (root / folder).glob('*.png'):
            label = Image.open(path)
            label.crop((0, 0, label.width - 3, label.height)).save(path)
    options = demo_options + [
        f'train_dataloader.dataset.datasets.{i}.data_root={root}'
        for i in range(2)
    ]
    # The demo pipeline checks labels (CheckSegLabels) before cropping.
    output = run_tool('train', demo_config, '--work-dir', tmp_path,
                      '--cfg-options', *options, 'train_cfg.max_iters=1',
                      cwd=tmp_path, expect_success=False).stdout
    assert f'{root}/SegmentationClass' in output
    assert '(WxH) but its image ' in output and f'{root}/JPEGImages/' in output


@pytest.mark.parametrize('broken_base', [False, True])
def test_config_syntax_error_names_file_and_line(tmp_path, broken_base):
    broken = tmp_path / 'broken.py'
    broken.write_text("_base_ = []\nmodel = dict(type='X',\n")
    config = tmp_path / 'leaf.py'
    config.write_text(f"_base_ = ['{broken}']\n")
    with pytest.raises(SyntaxError) as error:
        load_run_config(str(config if broken_base else broken))
    # What Python prints: File "<path>", line 2, the line, the message.
    assert (error.value.filename, error.value.lineno) == (str(broken), 2)
    assert error.value.text.strip() == "model = dict(type='X',"
    assert error.value.msg == "'(' was never closed"
    assert error.value.__suppress_context__  # no "<unknown>" frames above


# --out: one page, room for one prediction PNG; --show-dir: room for the
# config dump (8 KB) and not for a painted image.
@pytest.mark.slow
@pytest.mark.parametrize('option, megabytes, written', [
    ('--out', 0.004, ''), ('--show-dir', 0.024, 'vis_data/vis_image/test_')])
def test_test_outputs_on_a_full_disk_fail_naming_the_file(
        tmp_path, small_disk, three_checkpoints, deterministic_config,
        demo_options, run_tool, option, megabytes, written):
    disk = small_disk(megabytes)
    result = run_tool('test', deterministic_config,
                      three_checkpoints / 'iter_1.pth',
                      '--work-dir', tmp_path, option, disk, '--cfg-options',
                      *demo_options, cwd=tmp_path, expect_success=False)
    assert result.returncode != 0, result.stdout[-3000:]
    assert (f'error: [Errno 28] No space left on device: could not write '
            f'{disk}/{written}') in result.stdout, result.stdout[-3000:]
    pngs = list(disk.rglob('*.png'))
    assert all(np.asarray(Image.open(p)).size for p in pngs)
    assert not list(disk.rglob('.*fcn_mm_tmp'))


# Room for the first overlay (34 KB) and not the second.
@pytest.mark.parametrize('tool', ['predict', 'browse'])
def test_overlays_on_a_full_disk_fail_naming_the_file(
        tmp_path, small_disk, demo_config, demo_voc_root, three_checkpoints,
        deterministic_config, run_tool, tool):
    disk = small_disk(0.06)
    if tool == 'predict':
        images = sorted(Path(demo_voc_root, 'JPEGImages').glob('*.jpg'))[:6]
        args = ('predict', deterministic_config,
                three_checkpoints / 'iter_1.pth', *images, '--out-dir', disk)
    else:
        args = ('analysis_tools/browse_dataset', demo_config, '--split',
                'val', '--out-dir', disk, '--cfg-options',
                f'val_dataloader.dataset.data_root={demo_voc_root}')
    result = run_tool(*args, cwd=tmp_path, expect_success=False)
    assert result.returncode == 1, result.stdout[-3000:]
    assert (f'error: [Errno 28] No space left on device: could not write '
            f'{disk}/') in result.stdout, result.stdout[-3000:]
    assert 'Traceback' not in result.stdout
    pngs = list(disk.rglob('*.png'))
    assert pngs and all(np.asarray(Image.open(p)).size for p in pngs)
    assert not list(disk.rglob('.*fcn_mm_tmp'))
