"""Configs written for SyncBN train with one process, with or without a
launcher."""
import math

import pytest

from launch_helpers import (free_port, launch_env, load_state_dict,
                            logged_scalars, max_abs_diff, run_script)


@pytest.mark.slow
def test_syncbn_config_trains_without_a_launcher(one_process_syncbn_run):
    assert ('SyncBatchNorm (SyncBN) layers in the model will be '
            'automatically reverted' in one_process_syncbn_run['output'])
    scalars = logged_scalars(one_process_syncbn_run['work_dir'])
    losses = [scalars[i]['loss'] for i in range(1, 6)]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_syncbn_config_trains_on_one_torchrun_process(
        tmp_path, deterministic_config, demo_options, one_process_syncbn_run):
    # --launcher pytorch with WORLD_SIZE=1: a process group of one, where
    # torch's SyncBatchNorm would refuse CPU tensors.
    run_script('dist_train.sh', deterministic_config, 1, '--work-dir',
               tmp_path, '--cfg-options', *demo_options,
               'model.backbone.norm_cfg.type=SyncBN',
               'train_dataloader.batch_size=4',
               env=launch_env(PORT=free_port()), cwd=tmp_path)
    diff = max_abs_diff(
        load_state_dict(tmp_path / 'iter_5.pth'),
        load_state_dict(one_process_syncbn_run['work_dir'] / 'iter_5.pth'))
    assert diff < 1e-5, diff
