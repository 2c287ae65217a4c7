"""tools/deploy/export_onnx.py and fcn_mm.apis.export: for every model family,
the graph normalises inside, takes sizes other than the traced one (odd
ones too), and gives the logits ``model.predict`` gives, aligned the same."""
import pytest
import torch
from families import FAMILIES, NUM_CLASSES, build_family, write_family

pytest.importorskip('onnxruntime', reason='the deploy extra: pip install '
                    "'fcn_mm[deploy]'")
pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')

SIZES = [(37, 50), (64, 48)]  # neither is the traced (48, 64); 37, 50 odd


@pytest.fixture(scope='module')
def export_tool(load_tool):
    return load_tool('tools/deploy/export_onnx.py')


@pytest.mark.slow  # 5-18 s a family (ONNX export of a ResNet-50)
@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_tool_exports_every_family_and_checks_two_sizes(
        family, tmp_path, export_tool, capsys):
    config, checkpoint = write_family(family, tmp_path)
    output = tmp_path / f'{family}.onnx'
    results = export_tool.main([
        str(config), str(checkpoint), str(output), '--shape', '48', '64',
        '--check-shapes', '37', '50', '64', '48'
    ])
    printed = capsys.readouterr().out
    assert output.is_file() and f'-> {output}' in printed
    assert [r['size'] for r in results] == SIZES
    for r in results:
        # Random weights give logits of order 1-100; float32 rounding only.
        assert r['max_abs_diff'] <= 1e-4 * max(1, r['max_abs_logit'])
        assert r['label_agreement'] >= 0.999
        assert f"{r['size'][0]} x {r['size'][1]}" in printed


def test_graph_equals_predict_with_batch_and_labels(tmp_path):
    """The Caffe-exact FCN-8s (the hardest alignment: a crop at 31 of a map
    larger than the input) against mmseg's own predict, labels included,
    with a batch of two at a size the export never saw."""
    from fcn_mm.apis.export import check_onnx, export_onnx, onnx_session
    model = build_family('fcn8s_caffe')
    onnx_model = export_onnx(model, sample_size=(48, 64), with_labels=True)
    session = onnx_session(onnx_model)
    dims = [d for d in session.get_inputs()[0].shape]
    assert all(isinstance(d, str) for d in dims[:1] + dims[2:]), dims
    bgr = torch.rand(2, 3, 41, 29) * 255
    logits, labels = session.run(None, {'image': bgr.numpy()})
    # What the runner feeds predict: RGB, normalised by the preprocessor.
    pre = model.data_preprocessor
    data = pre(dict(inputs=list(bgr)), training=False)
    with torch.no_grad():
        samples = model.predict(data['inputs'])
    expected = torch.stack([s.seg_logits.data for s in samples])
    assert logits.shape == (2, NUM_CLASSES, 41, 29)
    torch.testing.assert_close(torch.from_numpy(logits), expected,
                               rtol=1e-4, atol=1e-4)
    predicted = torch.stack([s.pred_sem_seg.data[0] for s in samples])
    assert (torch.from_numpy(labels) == predicted).float().mean() >= 0.999
    assert check_onnx(onnx_model, model, [(33, 33)])[0]['size'] == (33, 33)


def test_bad_logits_fail_the_check_and_write_nothing(tmp_path, export_tool,
                                                     monkeypatch):
    config, checkpoint = write_family('fcn32s_modern', tmp_path)
    output = tmp_path / 'out.onnx'
    from fcn_mm.apis import export
    real_check = export.check_onnx

    def check_with_drift(*args, **kwargs):
        results = real_check(*args, **kwargs)
        results[1]['max_abs_diff'] = 1.0  # as a wrong graph would give
        return results

    monkeypatch.setattr(export_tool, 'check_onnx', check_with_drift)
    with pytest.raises(SystemExit, match='was not written'):
        export_tool.main([str(config), str(checkpoint), str(output),
                          '--shape', '32', '32'])
    assert not output.exists()


def test_slide_inference_is_refused_with_the_fix():
    from fcn_mm.apis.export import SegmentorForExport
    model = build_family('fcn32s_modern')
    model.test_cfg = dict(mode='slide', crop_size=(32, 32), stride=(16, 16))
    with pytest.raises(ValueError, match='model.test_cfg.mode=whole'):
        SegmentorForExport(model)


def test_odd_check_shapes_are_a_usage_error(export_tool, tmp_path, capsys):
    config, checkpoint = write_family('fcn32s_modern', tmp_path)
    with pytest.raises(SystemExit):
        export_tool.parse_args([str(config), str(checkpoint), 'x.onnx',
                                '--check-shapes', '32'])
    assert 'H W pairs' in capsys.readouterr().err
