"""fcn_mm.apis.inference: finding images, overlays with a legend, and the
prediction loop over any segmenter callable, on real VOC photos."""

import numpy as np
import pytest
from PIL import Image
from tool_runs import REAL_VOC as VOC

from fcn_mm.apis.inference import (collect_images, draw_overlay,
                                   predict_images)

CLASSES = ['background', 'aeroplane', 'bicycle', 'bird']
PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]


def test_collect_images_from_files_folders_and_globs(tmp_path):
    photos = sorted((VOC / 'JPEGImages').glob('*.jpg'))
    (tmp_path / 'notes.txt').write_text('not an image')
    found = collect_images([str(photos[1]), str(VOC / 'JPEGImages'),
                            str(VOC / 'JPEGImages' / 'val513_00*.jpg')])
    assert found[0] == photos[1]  # order given, each image once
    assert sorted(found) == photos
    with pytest.raises(FileNotFoundError, match='nope.jpg does not exist'):
        collect_images([str(tmp_path / 'nope.jpg')])
    with pytest.raises(FileNotFoundError, match=f'no images .* in {tmp_path}'):
        collect_images([str(tmp_path)])


def test_overlay_blends_the_palette_and_lists_present_classes():
    image = np.array(Image.open(VOC / 'JPEGImages' / '2007_000033.jpg'))
    label = np.zeros(image.shape[:2], np.int64)
    label[:100] = 3
    label[100:120] = 1
    overlay = np.array(draw_overlay(image, label, classes=CLASSES,
                                    palette=PALETTE, opacity=0.25))
    height, width = image.shape[:2]
    assert overlay.shape[0] == height and overlay.shape[1] > width
    expected = np.round(0.75 * image + 0.25 * np.array(PALETTE)[label])
    np.testing.assert_array_equal(overlay[:, :width], expected)
    legend = overlay[:, width:]
    # One swatch per class present, in the class colour; bicycle is absent.
    swatch_colours = {tuple(c) for c in legend.reshape(-1, 3)}
    assert {(128, 128, 0), (0, 0, 0), (128, 0, 0)} <= swatch_colours
    assert (0, 128, 0) not in swatch_colours
    with pytest.raises(ValueError, match='opacity'):
        draw_overlay(image, label, classes=CLASSES, palette=PALETTE,
                     opacity=2)


def test_predict_images_writes_overlays_and_index_pngs(tmp_path):
    photos = sorted((VOC / 'JPEGImages').glob('*.jpg'))[:3]
    seen = []

    def segment(bgr):  # any callable: here, class = brightness band
        seen.append(bgr.shape)
        return (bgr.mean(2) // 64).astype(np.int64)

    (tmp_path / 'o').mkdir()
    killed = tmp_path / 'o' / '.a_overlay.png.overlay0123abcd.fcn_mm_tmp'
    other = tmp_path / 'o' / '.a.png.browse0123abcd.fcn_mm_tmp'
    for stale in (killed, other):  # an earlier run's, killed mid-write
        stale.write_bytes(b'half a PNG')
    done = list(predict_images(segment, photos, out_dir=str(tmp_path / 'o'),
                               classes=CLASSES, palette=PALETTE,
                               save_index=True))
    assert [image for image, _ in done] == photos
    for photo, (_, written) in zip(photos, done):
        bgr = np.array(Image.open(photo))[..., ::-1]
        overlay, index = written
        assert overlay == tmp_path / 'o' / f'{photo.stem}_overlay.png'
        assert Image.open(overlay).height == bgr.shape[0]
        pred = Image.open(index)
        assert pred.mode == 'P' and pred.getpalette()[3:6] == [128, 0, 0]
        # JPEG decoders agree to within a grey level, not always exactly.
        agree = np.array(pred) == (bgr.mean(2) // 64)
        assert agree.mean() > 0.99
    assert len(seen) == 3
    assert not killed.exists() and other.exists()  # only its own


def test_predict_images_refuses_clashes_and_bad_segmenters(tmp_path):
    photo = VOC / 'JPEGImages' / '2007_000033.jpg'
    twin = tmp_path / 'b' / photo.name
    twin.parent.mkdir()
    twin.write_bytes(photo.read_bytes())
    with pytest.raises(ValueError, match='would both be written'):
        list(predict_images(lambda x: x[..., 0], [photo, twin],
                            out_dir=str(tmp_path), classes=CLASSES,
                            palette=PALETTE))
    with pytest.raises(ValueError, match=r'returned \(2, 2\)'):
        list(predict_images(lambda x: np.zeros((2, 2), int), [photo],
                            out_dir=str(tmp_path), classes=CLASSES,
                            palette=PALETTE))
