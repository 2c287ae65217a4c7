"""Tests of the VOC 2012 + SBD conversion (fcn_mm.datasets.voc_aug)."""
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat, savemat
from tool_runs import REAL_VOC

from fcn_mm.datasets import voc_aug
from fcn_mm.datasets.synthetic import make_demo_dataset
from fcn_mm.datasets.voc_aug import (DatasetConversionError, convert_voc_aug,
                                     voc_palette)

REPO = Path(__file__).resolve().parents[2]
SMALL = dict(
    num_voc_train=6, num_voc_val=5, num_sbd_train=8, num_sbd_val=6, overlap=2)


def _read_list(path):
    return Path(path).read_text().splitlines()


def _mat_label(path):
    return loadmat(path)['GTcls'][0, 0]['Segmentation']


def _small_demo(tmp_path, **kwargs):
    return make_demo_dataset(str(tmp_path / 'demo'), **{**SMALL, **kwargs})


def _write_lists(root, **lists):
    for rel, ids in lists.items():
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(''.join(f'{i}\n' for i in ids))


def test_real_voc_labels_become_identical_palette_pngs(tmp_path):
    ids = sorted(
        p.stem for p in (REAL_VOC / 'SegmentationClass').glob('*.png'))
    assert len(ids) == 15
    sbd = tmp_path / 'benchmark_RELEASE'
    (sbd / 'dataset' / 'cls').mkdir(parents=True)
    for image_id in ids:
        label = np.array(
            Image.open(REAL_VOC / 'SegmentationClass' / f'{image_id}.png'))
        label[label == 255] = 0  # SBD masks have no void label
        savemat(sbd / 'dataset' / 'cls' / f'{image_id}.mat',
                dict(GTcls=dict(Segmentation=label)))
    devkit = tmp_path / 'VOCdevkit'
    _write_lists(
        tmp_path,
        **{
            'VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt': ids[:3],
            'VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt': ids[3:6],
            'benchmark_RELEASE/dataset/train.txt': ids[:10],
            'benchmark_RELEASE/dataset/val.txt': ids[10:],
        })

    result = convert_voc_aug(devkit, sbd)

    assert (result['converted'], result['aug'], result['trainaug']) == (15, 9,
                                                                       12)
    real_palette = Image.open(REAL_VOC / 'SegmentationClass' /
                              '2007_000033.png').getpalette()
    from mmseg.datasets import PascalVOCDataset
    mmseg_palette = [
        v for c in PascalVOCDataset.METAINFO['palette'] for v in c
    ]
    assert list(voc_palette()) == real_palette
    assert list(voc_palette()[:63]) == mmseg_palette
    out_dir = devkit / 'VOC2012' / 'SegmentationClassAug'
    assert sorted(os.listdir(out_dir)) == [f'{i}.png' for i in ids]
    for image_id in ids:
        png = Image.open(out_dir / f'{image_id}.png')
        assert png.mode == 'P'
        assert png.getpalette() == real_palette
        expected = _mat_label(sbd / 'dataset' / 'cls' / f'{image_id}.mat')
        np.testing.assert_array_equal(np.array(png), expected)


def test_lists_follow_set_arithmetic_and_parent_path_works(tmp_path):
    paths = _small_demo(tmp_path)
    seg_dir = Path(paths['voc2012']) / 'ImageSets' / 'Segmentation'
    voc_train = set(_read_list(seg_dir / 'train.txt'))
    voc_val = set(_read_list(seg_dir / 'val.txt'))
    sbd_dir = Path(paths['sbd']) / 'dataset'
    sbd = set(_read_list(sbd_dir / 'train.txt')) | set(
        _read_list(sbd_dir / 'val.txt'))
    expected_aug = sorted(sbd - voc_train - voc_val)
    expected_trainaug = sorted(voc_train | set(expected_aug))

    # The parent of benchmark_RELEASE is accepted as well.
    result = convert_voc_aug(paths['devkit'], paths['root'])

    assert _read_list(seg_dir / 'aug.txt') == expected_aug
    assert _read_list(seg_dir / 'trainaug.txt') == expected_trainaug
    assert result['aug'] == len(expected_aug) == 6
    assert result['trainaug'] == len(expected_trainaug) == 12
    assert result['converted'] == len(sbd) == 14
    out_dir = Path(result['out_dir'])
    assert out_dir == Path(paths['voc2012']) / 'SegmentationClassAug'
    for image_id in sbd:
        np.testing.assert_array_equal(
            np.array(Image.open(out_dir / f'{image_id}.png')),
            _mat_label(sbd_dir / 'cls' / f'{image_id}.mat'))


def test_cli_prints_counts_and_errors_in_one_line(tmp_path):
    paths = _small_demo(tmp_path)
    out = tmp_path / 'out'
    script = REPO / 'tools' / 'convert_datasets' / 'voc_aug.py'
    done = subprocess.run(
        [sys.executable, script, paths['devkit'], paths['sbd'], '-o', out],
        capture_output=True,
        text=True)
    assert done.returncode == 0, done.stderr
    seg_dir = os.path.join(paths['voc2012'], 'ImageSets', 'Segmentation')
    assert f'wrote 14 PNGs to {out}' in done.stdout
    assert f"wrote 6 ids to {os.path.join(seg_dir, 'aug.txt')}" in done.stdout
    assert f"wrote 12 ids to {os.path.join(seg_dir, 'trainaug.txt')}" \
        in done.stdout
    assert len(os.listdir(out)) == 14

    missing = tmp_path / 'nowhere'
    failed = subprocess.run([sys.executable, script, missing, paths['sbd']],
                            capture_output=True,
                            text=True)
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ')
    assert str(missing / 'VOC2012') in lines[0]


def _remove(path):
    shutil.rmtree(path) if path.is_dir() else path.unlink()


# name -> (break the inputs, text the message must contain, written first)
BAD_INPUTS = {
    'no VOC2012 folder':
    (lambda d, s, i: _remove(d / 'VOC2012'), lambda d, s, i: d / 'VOC2012'),
    'no VOC val list':
    (lambda d, s, i: _remove(d / 'VOC2012/ImageSets/Segmentation/val.txt'),
     lambda d, s, i: d / 'VOC2012/ImageSets/Segmentation/val.txt'),
    'no SBD cls folder': (lambda d, s, i: _remove(s / 'dataset/cls'),
                          lambda d, s, i: s / 'dataset/cls'),
    'no SBD train list': (lambda d, s, i: _remove(s / 'dataset/train.txt'),
                          lambda d, s, i: s / 'dataset/train.txt'),
    'id without .mat': (lambda d, s, i: _remove(s / f'dataset/cls/{i}.mat'),
                        lambda d, s, i: s / f'dataset/cls/{i}.mat'),
}
BAD_MATS = {
    'corrupt bytes':
    lambda p: p.write_bytes(b'this is not a MATLAB file' * 8),
    'truncated':
    lambda p: p.write_bytes(p.read_bytes()[:200]),
    'no GTcls':
    lambda p: savemat(p, dict(GTinst=dict(Segmentation=np.zeros((4, 4))))),
    'label 21':
    lambda p: savemat(
        p, dict(GTcls=dict(Segmentation=np.full((4, 5), 21, np.uint8)))),
    'float labels':
    lambda p: savemat(p, dict(GTcls=dict(Segmentation=np.zeros((4, 4))))),
}


@pytest.mark.parametrize('case', list(BAD_INPUTS))
def test_missing_inputs_raise_before_writing(tmp_path, case):
    paths = _small_demo(tmp_path)
    devkit, sbd = Path(paths['devkit']), Path(paths['sbd'])
    sbd_id = _read_list(sbd / 'dataset' / 'val.txt')[-1]
    breaker, expected = BAD_INPUTS[case]
    breaker(devkit, sbd, sbd_id)

    with pytest.raises(DatasetConversionError) as info:
        convert_voc_aug(devkit, sbd)

    assert str(expected(devkit, sbd, sbd_id)) in str(info.value)
    assert not (devkit / 'VOC2012' / 'SegmentationClassAug').exists()
    assert not (devkit / 'VOC2012/ImageSets/Segmentation/aug.txt').exists()


@pytest.mark.parametrize('case', list(BAD_MATS))
def test_bad_mat_files_raise_with_path_and_fix(tmp_path, case):
    paths = _small_demo(tmp_path)
    devkit, sbd = Path(paths['devkit']), Path(paths['sbd'])
    sbd_id = _read_list(sbd / 'dataset' / 'train.txt')[0]
    mat = sbd / 'dataset' / 'cls' / f'{sbd_id}.mat'
    BAD_MATS[case](mat)

    with pytest.raises(DatasetConversionError) as info:
        convert_voc_aug(devkit, sbd)

    message = str(info.value)
    assert str(mat) in message and 're-extract benchmark.tgz' in message
    if case == 'label 21':
        assert '[21]' in message
    out_dir = devkit / 'VOC2012' / 'SegmentationClassAug'
    assert all(name.endswith('.png') for name in os.listdir(out_dir))
    assert not (devkit / 'VOC2012/ImageSets/Segmentation/aug.txt').exists()


def test_void_label_255_is_kept(tmp_path):
    paths = _small_demo(tmp_path)
    sbd_id = _read_list(Path(paths['sbd']) / 'dataset' / 'train.txt')[0]
    label = np.array([[0, 255, 20], [3, 3, 255]], np.uint8)
    savemat(
        Path(paths['sbd']) / 'dataset' / 'cls' / f'{sbd_id}.mat',
        dict(GTcls=dict(Segmentation=label)))
    result = convert_voc_aug(paths['devkit'], paths['sbd'])
    png = Image.open(Path(result['out_dir']) / f'{sbd_id}.png')
    np.testing.assert_array_equal(np.array(png), label)


def test_failure_mid_run_leaves_only_complete_pngs(tmp_path, monkeypatch):
    paths = _small_demo(tmp_path)
    devkit, sbd = Path(paths['devkit']), Path(paths['sbd'])
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    ids = sorted(
        set(_read_list(sbd / 'dataset' / 'train.txt'))
        | set(_read_list(sbd / 'dataset' / 'val.txt')))
    (out_dir / f'{ids[-1]}.png').write_bytes(b'stale half-written file')
    real_save = Image.Image.save
    calls = []

    def save_then_fail(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 3:
            fp.write(b'\x89PNG partial')  # the disk fills up mid-file
            raise OSError('No space left on device')
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, 'save', save_then_fail)
    with pytest.raises(OSError, match='No space left'):
        convert_voc_aug(devkit, sbd, out_dir)
    monkeypatch.undo()

    names = sorted(os.listdir(out_dir))
    assert names == [f'{i}.png' for i in ids[:2]] + [f'{ids[-1]}.png']
    for image_id in ids[:2]:
        np.testing.assert_array_equal(
            np.array(Image.open(out_dir / f'{image_id}.png')),
            _mat_label(sbd / 'dataset' / 'cls' / f'{image_id}.mat'))
    assert not (devkit / 'VOC2012/ImageSets/Segmentation/aug.txt').exists()

    # A re-run overwrites everything, the stale file included.
    convert_voc_aug(devkit, sbd, out_dir)
    assert sorted(os.listdir(out_dir)) == [f'{i}.png' for i in ids]
    for image_id in ids:
        np.testing.assert_array_equal(
            np.array(Image.open(out_dir / f'{image_id}.png')),
            _mat_label(sbd / 'dataset' / 'cls' / f'{image_id}.mat'))


def test_two_processes_write_the_same_files(tmp_path):
    paths = _small_demo(tmp_path)
    one, two = tmp_path / 'one', tmp_path / 'two'
    result_one = convert_voc_aug(paths['devkit'], paths['sbd'], one, nproc=1)
    seg_dir = Path(paths['voc2012']) / 'ImageSets' / 'Segmentation'
    lists_one = [(seg_dir / n).read_bytes() for n in ('aug.txt',
                                                      'trainaug.txt')]
    result_two = convert_voc_aug(paths['devkit'], paths['sbd'], two, nproc=2)
    lists_two = [(seg_dir / n).read_bytes() for n in ('aug.txt',
                                                      'trainaug.txt')]

    assert {k: v for k, v in result_one.items() if k != 'out_dir'} == \
        {k: v for k, v in result_two.items() if k != 'out_dir'}
    assert lists_one == lists_two
    assert sorted(os.listdir(one)) == sorted(os.listdir(two))
    assert len(os.listdir(one)) == 14
    for name in os.listdir(one):
        assert (one / name).read_bytes() == (two / name).read_bytes()


VICTIM = []  # the id whose worker is killed, set by the test below
_CONVERT_ONE = voc_aug._convert_one


def _killed_on_victim(sbd_id, **kwargs):
    """voc_aug's per-id function in a worker the OOM killer picks: SIGKILL
    on the victim id (module level, so the pool can pickle it)."""
    if sbd_id in VICTIM:
        os.kill(os.getpid(), signal.SIGKILL)
    return _CONVERT_ONE(sbd_id, **kwargs)


def _hang_guard(signum, frame):
    raise RuntimeError('convert_voc_aug hangs after a worker died')


def test_a_killed_worker_stops_the_run_naming_it(tmp_path, monkeypatch):
    paths = _small_demo(tmp_path)
    devkit, sbd = Path(paths['devkit']), Path(paths['sbd'])
    out_dir = tmp_path / 'out'
    ids = sorted(
        set(_read_list(sbd / 'dataset' / 'train.txt'))
        | set(_read_list(sbd / 'dataset' / 'val.txt')))
    VICTIM[:] = [ids[0]]
    monkeypatch.setattr(voc_aug, '_convert_one', _killed_on_victim)
    # The workers fork from this process and see the patched function. Not
    # a timing: with multiprocessing.Pool the run never ended.
    old = signal.signal(signal.SIGALRM, _hang_guard)
    signal.alarm(300)
    try:
        with pytest.raises(DatasetConversionError) as info:
            convert_voc_aug(devkit, sbd, out_dir, nproc=2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        VICTIM.clear()
    message = str(info.value)
    assert '\n' not in message
    assert re.match(r'worker \d+ was killed by SIGKILL: (\d+) of 14 ids were '
                    rf'not converted \(e\.g\. {ids[0]}\b', message), message
    assert 'smaller --nproc' in message
    left = int(re.search(r'(\d+) of 14', message).group(1))
    written = sorted(os.listdir(out_dir))
    assert all(n.endswith('.png') for n in written)  # no temporaries
    assert len(written) >= 14 - left and f'{ids[0]}.png' not in written
    for name in written:  # each PNG complete
        np.testing.assert_array_equal(
            np.array(Image.open(out_dir / name)),
            _mat_label(sbd / 'dataset' / 'cls' / f'{name[:-4]}.mat'))
    seg_dir = devkit / 'VOC2012' / 'ImageSets' / 'Segmentation'
    assert not (seg_dir / 'aug.txt').exists()
    assert not (seg_dir / 'trainaug.txt').exists()

    monkeypatch.undo()
    assert convert_voc_aug(devkit, sbd, out_dir, nproc=2)['converted'] == 14
    assert sorted(os.listdir(out_dir)) == [f'{i}.png' for i in ids]


def test_nproc_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match='nproc'):
        convert_voc_aug(tmp_path, tmp_path, nproc=0)


def test_official_sizes_check(tmp_path, monkeypatch):
    paths = _small_demo(tmp_path)
    # Pretend the small lists are the official ones: their sizes match but
    # the result (6 aug ids) is not the published 9118.
    monkeypatch.setattr(voc_aug, 'OFFICIAL_LIST_SIZES',
                        dict(voc_train=6, voc_val=5, sbd_train=8, sbd_val=6))
    with pytest.raises(DatasetConversionError, match='9118') as info:
        convert_voc_aug(paths['devkit'], paths['sbd'])
    assert 're-extract' in str(info.value)
    assert not (Path(paths['voc2012']) / 'SegmentationClassAug').exists()

    monkeypatch.setattr(voc_aug, 'OFFICIAL_AUG_SIZE', 6)
    monkeypatch.setattr(voc_aug, 'OFFICIAL_TRAINAUG_SIZE', 12)
    assert convert_voc_aug(paths['devkit'], paths['sbd'])['aug'] == 6


def test_rerun_removes_temporaries_of_a_killed_run(tmp_path):
    paths = _small_demo(tmp_path)
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    list_dir = Path(paths['voc2012']) / 'ImageSets' / 'Segmentation'
    # What atomic_write leaves when a SIGKILL hits a worker mid-write.
    stale = [out_dir / '.2008_000001.png.voc_aug1a2b3c4d.5e6f7a8b.fcn_mm_tmp',
             list_dir / '.aug.txt.voc_aug0a1b2c3d.fcn_mm_tmp']
    other = out_dir / '.notes.txt.other1234.fcn_mm_tmp'  # not the converter's
    for path in stale + [other]:
        path.write_bytes(b'partial')
    convert_voc_aug(paths['devkit'], paths['sbd'], out_dir)
    assert [p for p in stale if p.exists()] == []
    assert other.exists()
    assert not [p for p in out_dir.iterdir() if p.name.startswith('.')
                and p != other]


def test_unwritable_output_fails_before_converting(tmp_path):
    paths = _small_demo(tmp_path)
    blocker = tmp_path / 'file'
    blocker.write_text('a file where the output folder should go')
    out_dir = blocker / 'SegmentationClassAug'
    with pytest.raises(DatasetConversionError,
                       match=rf'cannot write to {out_dir} \(Not a directory\)'
                       '; nothing was converted'):
        convert_voc_aug(paths['devkit'], paths['sbd'], out_dir)
    list_dir = Path(paths['voc2012']) / 'ImageSets' / 'Segmentation'
    assert not (list_dir / 'aug.txt').exists()
