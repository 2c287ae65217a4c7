"""tools/deploy/export_onnx.py and fcn_mm.apis.export: for every model family,
the graph normalises inside, takes sizes other than the traced one (odd
ones too), and gives the logits ``model.predict`` gives, aligned the same;
within a bound derived from a float64 run (fcn_mm.numerics), which passes
the right graph and refuses one with a weight off by 1%."""
import pytest
import torch
from families import FAMILIES, NUM_CLASSES, build_family, write_family

from fcn_mm.apis.export import check_onnx, export_onnx
from fcn_mm.numerics import compare_with_float64, float64_copy

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
        assert r['passed'] and r['onnx_error'] <= r['bound']
        assert r['label_agreement'] >= 0.999
        assert f"{r['size'][0]} x {r['size'][1]}" in printed


def test_graph_equals_predict_with_batch_and_labels(tmp_path):
    """The Caffe-exact FCN-8s (the hardest alignment: a crop at 31 of a map
    larger than the input) against mmseg's own predict, labels included,
    with a batch of two at a size the export never saw."""
    from fcn_mm.apis.export import onnx_session
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
        exact = float64_copy(model).predict(data['inputs'].double())
    expected = torch.stack([s.seg_logits.data for s in samples])
    assert logits.shape == (2, NUM_CLASSES, 41, 29)
    check = compare_with_float64(
        torch.from_numpy(logits), expected,
        torch.stack([s.seg_logits.data for s in exact]))
    assert check.passed, check
    predicted = torch.stack([s.pred_sem_seg.data[0] for s in samples])
    assert (torch.from_numpy(labels) == predicted).float().mean() >= 0.999
    assert check_onnx(onnx_model, model, [(33, 33)])[0]['size'] == (33, 33)


def scale_onnx_weight(model: bytes, suffix: str, factor: float) -> bytes:
    """``model`` with its one initializer named ``...suffix`` times
    ``factor``: a wrong graph, as a bad op translation would give."""
    import onnx
    from onnx import numpy_helper
    proto = onnx.load_from_string(model)
    [weight] = [w for w in proto.graph.initializer if w.name.endswith(suffix)]
    weight.CopyFrom(numpy_helper.from_array(
        numpy_helper.to_array(weight) * factor, weight.name))
    return proto.SerializeToString()


@pytest.fixture(scope='module')
def fcn8s_graphs():
    """The tiny Caffe FCN-8s, its export, and the export with conv3_1's
    weight (mid-network: 5 layers before, 7 after) times 1.01."""
    model = build_family('fcn8s_caffe')
    right = export_onnx(model, sample_size=(32, 48))
    return model, right, scale_onnx_weight(right, 'conv3_1.conv.weight', 1.01)


@pytest.mark.numeric
def test_check_refuses_a_graph_with_one_weight_off_by_one_percent(
        fcn8s_graphs):
    model, right, wrong = fcn8s_graphs
    sizes = [(37, 50), (64, 48)]
    for r in check_onnx(right, model, sizes):
        assert r['passed'], r
    for r in check_onnx(wrong, model, sizes):
        assert not r['passed'], r
        # Refused by far, not by chance: the bound is tight.
        assert r['onnx_error'] > 10 * r['bound'], r


@pytest.mark.numeric
def test_tool_refuses_the_wrong_graph_and_writes_nothing(
        fcn8s_graphs, tmp_path, export_tool, monkeypatch, capsys):
    _, _, wrong = fcn8s_graphs
    config, checkpoint = write_family('fcn8s_caffe', tmp_path)
    output = tmp_path / 'out.onnx'
    monkeypatch.setattr(export_tool, 'export_onnx',
                        lambda *args, **kwargs: wrong)
    with pytest.raises(SystemExit, match='beyond the bound .* was not '
                       'written'):
        export_tool.main([str(config), str(checkpoint), str(output),
                          '--shape', '32', '48'])
    assert not output.exists()
    printed = capsys.readouterr().out
    assert 'onnxruntime error' in printed and 'bound' in printed


def test_rtol_is_a_fixed_bound_on_the_float32_difference(
        tmp_path, export_tool):
    config, checkpoint = write_family('fcn32s_modern', tmp_path)
    output = tmp_path / 'out.onnx'
    results = export_tool.main([str(config), str(checkpoint), str(output),
                                '--shape', '32', '32', '--rtol', '0.5'])
    assert output.is_file()
    for r in results:
        assert r['bound'] == 0.5 * max(1.0, r['max_abs_logit'])
        assert r['passed'] == (r['max_abs_diff'] <= r['bound'])


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
