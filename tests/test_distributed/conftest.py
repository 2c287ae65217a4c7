"""Fixtures for distributed runs of the demo FCN-8s on CPU (gloo)."""
from pathlib import Path

import pytest

from launch_helpers import (DETERMINISTIC_CONFIG, finish, launch_env,
                            free_port, start_script)


@pytest.fixture(scope='session')
def deterministic_config() -> Path:
    return DETERMINISTIC_CONFIG


@pytest.fixture(scope='session')
def two_node_run(tmp_path_factory, demo_options) -> dict:
    """Two torchrun launches on this machine acting as NNODES=2 machines of
    one process each (2 x batch 2, plain BN), 10 iterations, checkpoints at
    5 and 10. Returns the work dir and both launches' outputs."""
    work_dir = tmp_path_factory.mktemp('two_nodes')
    port = free_port()
    nodes = [
        start_script('dist_train.sh', DETERMINISTIC_CONFIG, 1, '--work-dir',
                     work_dir, '--cfg-options', *demo_options,
                     'train_cfg.max_iters=10',
                     env=launch_env(NNODES=2, NODE_RANK=rank, PORT=port,
                                    MASTER_TIMEOUT=120),
                     cwd=work_dir) for rank in (0, 1)
    ]
    outputs = [finish(node) for node in nodes]
    return dict(work_dir=work_dir, outputs=outputs)


@pytest.fixture(scope='session')
def one_process_syncbn_run(tmp_path_factory, run_tool, demo_options) -> dict:
    """tools/train.py without a launcher on a SyncBN config, 1 x batch 4,
    5 iterations: mmengine reverts SyncBN to BN in a single process. Returns
    the work dir and the output."""
    work_dir = tmp_path_factory.mktemp('one_process_syncbn')
    output = run_tool('train', DETERMINISTIC_CONFIG, '--work-dir', work_dir,
                      '--cfg-options', *demo_options,
                      'model.backbone.norm_cfg.type=SyncBN',
                      'train_dataloader.batch_size=4', cwd=work_dir).stdout
    return dict(work_dir=work_dir, output=output)
