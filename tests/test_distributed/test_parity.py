"""Two processes x batch B train the same weights as one process x batch 2B.

The InfiniteSampler deals one shuffled order round-robin: with 2 ranks, rank
r gets positions r, r+2, ..., so the two batches of B together are exactly
the batch of 2B one process draws. DDP averages the two gradients, and with
equal-size images the mean loss over 2B pixels sets is the average of the
two means. What does not split is BatchNorm: each process normalises with
the statistics of its own B images. So parity holds for a net without BN
and for SyncBN on 2 processes against BN on one, and does not hold for plain
BN on 2 processes, which the last test shows (about 8e-4 against 6e-7
with SyncBN).
"""
import pytest

from launch_helpers import (free_port, launch_env, load_state_dict,
                            max_abs_diff, run_script)

TOLERANCE = 1e-5


def _two_process_run(work_dir, config, demo_options, *options):
    work_dir.mkdir(exist_ok=True)
    run_script('dist_train.sh', config, 2, '--work-dir', work_dir,
               '--cfg-options', *demo_options, *options,
               env=launch_env(PORT=free_port()), cwd=work_dir)
    return load_state_dict(work_dir / 'iter_5.pth')


@pytest.mark.slow
def test_without_norm_layers(tmp_path, run_tool, deterministic_config,
                             demo_options):
    no_norm = 'model.backbone.norm_cfg=None'
    one = tmp_path / 'one'
    run_tool('train', deterministic_config, '--work-dir', one,
             '--cfg-options', *demo_options, no_norm,
             'train_dataloader.batch_size=4', cwd=tmp_path)
    two = _two_process_run(tmp_path / 'two', deterministic_config,
                           demo_options, no_norm)
    assert not any('bn' in key for key in two)
    diff = max_abs_diff(load_state_dict(one / 'iter_5.pth'), two)
    assert diff < TOLERANCE, diff


@pytest.mark.slow
def test_syncbn_on_two_processes_equals_bn_on_one(tmp_path,
                                                  deterministic_config,
                                                  demo_options,
                                                  one_process_syncbn_run):
    two = _two_process_run(tmp_path, deterministic_config, demo_options,
                           'model.backbone.norm_cfg.type=SyncBN')
    one = load_state_dict(one_process_syncbn_run['work_dir'] / 'iter_5.pth')
    # Weights and the running statistics (unbiased, over all 4 images).
    diff = max_abs_diff(one, two)
    assert diff < TOLERANCE, diff
    assert two['backbone.conv1_1.bn.num_batches_tracked'] == 5


@pytest.mark.slow
def test_plain_bn_on_two_processes_differs(two_node_run,
                                           one_process_syncbn_run):
    # Same data and weights at the start, but each process's BN sees 2 of
    # the 4 images: this is the difference SyncBN removes.
    two = load_state_dict(two_node_run['work_dir'] / 'iter_5.pth')
    one = load_state_dict(one_process_syncbn_run['work_dir'] / 'iter_5.pth')
    weights = {key for key in one if 'running' not in key}
    diff = max_abs_diff({k: one[k] for k in weights},
                        {k: two[k] for k in weights})
    assert diff > 20 * TOLERANCE, diff
