"""mmcls RandomCrop in a real ``mindspore.dataset`` pipeline: every output must be a window of
the image padded as mmcls pads it, and the windows must cover every offset mmcls can draw."""
import mindspore.dataset as ds
from mindspore.dataset import vision
import numpy as np
import pytest

from ms_cls.errors import ConfigError
from ms_cls.data.pipeline import build_pipeline

IMAGE = (np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3) + 10)   # no 0..9: pads stand out


def crops(step, image=IMAGE, rows=120):
    """The op's output for ``rows`` copies of ``image`` (HWC uint8, the pipeline's last two ops,
    TypeCast and HWC2CHW, undone)."""
    ops = build_pipeline([step])
    data = ds.NumpySlicesDataset([image] * rows, ['image'], shuffle=False)
    data = data.map(operations=ops, input_columns='image', num_parallel_workers=1)
    return [row['image'].transpose(1, 2, 0).astype(np.uint8)
            for row in data.create_dict_iterator(output_numpy=True)]


def windows(padded, height, width):
    """{(top, left): window} over every offset of a (height, width) crop of ``padded``."""
    return {(y, x): padded[y:y + height, x:x + width]
            for y in range(padded.shape[0] - height + 1)
            for x in range(padded.shape[1] - width + 1)}


def offsets(outputs, padded):
    """The offset of each output in ``padded``; fails if one is no window of it."""
    height, width = outputs[0].shape[:2]
    found = []
    for out in outputs:
        hits = [at for at, win in windows(padded, height, width).items()
                if np.array_equal(win, out)]
        assert hits, "an output is not a window of the padded image"
        found.append(hits[0])
    return set(found)


def test_cifar_padding_is_constant_pad_val_in_bgr_and_every_offset_is_drawn():
    outs = crops(dict(type='RandomCrop', size=(3, 4), padding=1, pad_val=(1, 2, 3)))
    padded = np.stack([np.pad(IMAGE[..., c], 1, constant_values=v)
                       for c, v in enumerate((3, 2, 1))], -1)       # pad_val is B, G, R
    assert offsets(outs, padded) == {(y, x) for y in range(3) for x in range(3)}


@pytest.mark.parametrize('mode', ['edge', 'reflect', 'symmetric'])
def test_pad_if_needed_pads_both_ends_by_the_shortfall_in_padding_mode(mode):
    """5 x 6 from 3 x 4: mmcls pads 2 rows on top and 2 at the bottom, 2 columns left and 2
    right (numpy's modes have the same names and meanings): 7 x 8, so 3 x 3 offsets."""
    outs = crops(dict(type='RandomCrop', size=(5, 6), pad_if_needed=True, padding_mode=mode))
    padded = np.pad(IMAGE, ((2, 2), (2, 2), (0, 0)), mode=mode)
    assert offsets(outs, padded) == {(y, x) for y in range(3) for x in range(3)}


def test_padding_ignores_padding_mode_as_mmcls_does():
    """mmcls pads ``padding`` with pad_val whatever padding_mode says; (left, top, right,
    bottom) and (left/right, top/bottom) as mmcv.impad reads them."""
    out, = crops(dict(type='RandomCrop', size=(3, 7), padding=(1, 0, 2, 0), pad_val=5,
                      padding_mode='reflect'), rows=1)
    np.testing.assert_array_equal(out, np.pad(IMAGE, ((0, 0), (1, 2), (0, 0)),
                                              constant_values=5))
    out, = crops(dict(type='RandomCrop', size=(7, 6), padding=(1, 2)), rows=1)
    np.testing.assert_array_equal(out, np.pad(IMAGE, ((2, 2), (1, 1), (0, 0))))


def test_crop_of_the_image_size_is_the_image():
    for out in crops(dict(type='RandomCrop', size=(3, 4)), rows=5):
        np.testing.assert_array_equal(out, IMAGE)


@pytest.mark.parametrize('step, message', [
    (dict(type='RandomCrop', size=4, padding_mode='wrap'), r"\[0\] RandomCrop: padding_mode="),
    (dict(type='RandomCrop', size=4, pad_val=(1, 2)), r"pad_val=\(1, 2\) must be an int or 3"),
    (dict(type='RandomCrop', size=4, padding=-1), r"padding=-1; use an int >= 0"),
    (dict(type='RandomCrop', size=4, padding=(1, 2, 3)), r"padding=\(1, 2, 3\)"),
    (dict(type='RandomCrop', size=4, paddding=1), r"paddding"),
])
def test_bad_arguments_are_config_errors(step, message):
    with pytest.raises(ConfigError, match=message):
        build_pipeline([step])


def test_random_resized_crop_falls_back_to_mmcls_centre_crop_then_resizes():
    """No box of the whole area fits a 2:1 image at aspect 3/4..4/3, so every attempt fails and
    mmcls takes the centre 20 x 27 window (27 = round(20 * 4/3)), resized as vision.Resize."""
    image = np.random.default_rng(0).integers(0, 256, (20, 40, 3), dtype=np.uint8)
    outs = crops(dict(type='RandomResizedCrop', size=(10, 12), scale=(1.0, 1.0)), image, rows=3)
    expected = vision.Resize((10, 12), vision.Inter.BILINEAR)(image[:, 6:33])
    for out in outs:
        np.testing.assert_array_equal(out, expected)
