"""tools/analysis_tools/browse_dataset.py draws a split's labels on its
images exactly, leaves ignored pixels as the photo, and names missing data."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.usefixtures('one_thread')
TOOL = 'tools/analysis_tools/browse_dataset.py'


def test_val_labels_are_blended_exactly(load_tool, demo_config, demo_options,
                                        demo_voc_root, tmp_path, capsys):
    from mmseg.datasets import PascalVOCDataset
    killed = tmp_path / '.00001_x.png.browse0123abcd.fcn_mm_tmp'
    killed.write_bytes(b'half a PNG')  # an earlier run's, killed mid-write
    load_tool(TOOL).main([str(demo_config), '--split', 'val', '--limit', '3',
                          '--out-dir', str(tmp_path), '--cfg-options',
                          *demo_options])
    pngs = sorted(tmp_path.glob('*.png'))
    assert len(pngs) == 3 and '3 samples' in capsys.readouterr().out
    assert not killed.exists()
    palette = np.array(PascalVOCDataset.METAINFO['palette'], np.float64)
    saw_ignored = False
    for png in pngs:
        stem = png.stem.split('_', 1)[1]
        photo = np.array(Image.open(
            Path(demo_voc_root) / 'JPEGImages' / f'{stem}.jpg'), np.float64)
        label = np.array(Image.open(
            Path(demo_voc_root) / 'SegmentationClass' / f'{stem}.png'))
        ignored = label == 255
        expected = np.round(0.5 * photo + 0.5 * palette[np.where(
            ignored, 0, label)])
        expected[ignored] = photo[ignored]
        drawn = np.array(Image.open(png))[:label.shape[0], :label.shape[1]]
        np.testing.assert_array_equal(drawn, expected.astype(np.uint8))
        saw_ignored |= bool(ignored.any())
    assert saw_ignored  # VOC's boundaries are 255


def test_train_split_shows_the_augmented_crop(load_tool, demo_config,
                                              demo_options, tmp_path):
    load_tool(TOOL).main([str(demo_config), '--limit', '2', '--out-dir',
                          str(tmp_path), '--cfg-options', *demo_options])
    pngs = sorted(tmp_path.glob('*.png'))
    assert [p.name[:6] for p in pngs] == ['00000_', '00001_']
    assert all(Image.open(p).height >= 96 for p in pngs)  # 96x96 crops


def test_missing_data_is_named(load_tool, demo_config, tmp_path):
    missing = tmp_path / 'VOC2012'
    with pytest.raises(SystemExit, match=f'{missing}.*missing'):
        load_tool(TOOL).main([str(demo_config), '--split', 'val',
                              '--out-dir', str(tmp_path / 'out'),
                              '--cfg-options',
                              f'val_dataloader.dataset.data_root={missing}'])
    assert not (tmp_path / 'out').exists()
