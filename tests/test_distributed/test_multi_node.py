"""Two launches of tools/dist_train.sh as NNODES=2 machines on 127.0.0.1, and
tools/dist_test.sh against single-process tools/test.py."""
import pytest

from launch_helpers import free_port, launch_env, logged_scalars, run_script


@pytest.mark.slow
def test_two_nodes_train_to_the_end(two_node_run):
    work_dir = two_node_run['work_dir']
    assert (work_dir / 'iter_10.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'iter_10.pth')
    assert sorted(logged_scalars(work_dir)) == list(range(1, 11))
    node0, node1 = two_node_run['outputs']
    # Node 0 holds rank 0 (logs, checkpoints); node 1's rank 1 trained too.
    assert 'Saving checkpoint at 10 iterations' in node0
    assert 'Distributed training: True' in node0 + node1


@pytest.mark.slow
def test_dist_test_reports_what_test_py_reports(tmp_path, two_node_run,
                                                run_tool, deterministic_config,
                                                demo_options,
                                                printed_summary):
    checkpoint = two_node_run['work_dir'] / 'iter_10.pth'
    distributed = run_script('dist_test.sh', deterministic_config, checkpoint,
                             2, '--work-dir', tmp_path / 'two',
                             '--cfg-options', *demo_options,
                             env=launch_env(PORT=free_port()),
                             cwd=tmp_path).stdout
    single = run_tool('test', deterministic_config, checkpoint, '--work-dir',
                      tmp_path / 'one', '--cfg-options', *demo_options,
                      cwd=tmp_path).stdout
    metrics = printed_summary(distributed)
    assert set(metrics) == {'aAcc', 'mIoU', 'mAcc'}
    assert metrics == printed_summary(single)
