"""tools/train.py end to end: --resume continues a run exactly."""
import pytest
from tool_runs import logged_scalars


@pytest.mark.slow
def test_resume_reproduces_an_uninterrupted_run(tmp_path, run_tool,
                                                demo_config, demo_options):
    # Dropout is off: mmengine does not checkpoint torch's RNG state, so the
    # dropout masks after a resume differ from an unbroken run's. Everything
    # else is restored: the weights, AdamW's moments, the poly LR position,
    # the InfiniteSampler order (the loop replays the first 4 batches) and,
    # through that replay, the numpy draws of the random resize/crop/flip.
    options = demo_options + [
        'randomness.seed=0', 'randomness.deterministic=True',
        'model.backbone.dropout_ratio=0', 'model.decode_head.dropout_ratio=0',
        'default_hooks.checkpoint.interval=4',
        # The first leg stops at 4 of 8 iterations on purpose: keep the
        # config's schedule instead of ending the poly LR at max_iters.
        'follow_max_iters=False'
    ]
    unbroken, broken = tmp_path / 'unbroken', tmp_path / 'broken'
    run_tool('train', demo_config, '--work-dir', unbroken, '--cfg-options',
             *options, 'train_cfg.max_iters=8', cwd=tmp_path)
    run_tool('train', demo_config, '--work-dir', broken, '--cfg-options',
             *options, 'train_cfg.max_iters=4', cwd=tmp_path)
    assert (broken / 'iter_4.pth').is_file()
    resumed = run_tool('train', demo_config, '--work-dir', broken, '--resume',
                       '--cfg-options', *options, 'train_cfg.max_iters=8',
                       cwd=tmp_path).stdout
    assert 'resumed epoch: 0, iter: 4' in resumed

    expected, got = logged_scalars(unbroken), logged_scalars(broken)
    assert sorted(expected) == sorted(got) == list(range(1, 9))
    for iteration in range(1, 9):
        for key in ('loss', 'decode.acc_seg', 'lr'):
            assert got[iteration][key] == pytest.approx(
                expected[iteration][key], rel=1e-5), (iteration, key)
    # The losses move, so equal values are not one constant repeated.
    assert len({round(expected[i]['loss'], 4) for i in expected}) == 8

