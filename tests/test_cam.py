"""Grad-CAM: on the demo shapes the map's peak must fall on the shape the generator drew."""
import os
import subprocess
import sys

import numpy as np
import pytest

from ms_cls.analysis.cam import cam_weights, default_target_layer, image_cams, peak
from ms_cls.apis import init_model
from ms_cls.data.demo import read_boxes
from ms_cls.errors import ConfigError

from conftest import ROOT, SHAPES_VAL, SWIN_CONFIG

MIN_HITS = 0.8
#: Grad-CAM++ is held to MIN_HITS. Plain Grad-CAM's mean gradient also weights channels that
#: fire on the background next to the shape: measured on these runs 0.59 (ResNet-18), see
#: the report of issue 16.
METHOD = 'gradcam++'


def localisation(work_dir, config, data_root, method):
    """-> (images classified right, of them those whose CAM peaks inside their shape's box,
    those whose peak falls inside the box of another image (a control: a map that always
    peaks at the image centre scores as well there), layer)."""
    model = init_model(os.path.join(work_dir, os.path.basename(config)),
                       os.path.join(work_dir, 'best.ckpt'))
    boxes = {name: value for (split, name), value in read_boxes(data_root).items()
             if split == 'val'}
    names = sorted(boxes)
    others = names[7:] + names[:7]
    items = image_cams(model, [os.path.join(data_root, 'val', n) for n in names], method=method)
    right = hits = control = 0
    for name, other, item in zip(names, others, items):
        label, box = boxes[name]
        if item['pred_label'] == label:
            right += 1
            x, y = peak(item['cam'])
            hits += inside(x, y, box)
            control += inside(x, y, boxes[other][1])
    return right, hits, control, items[0]['layer']


def inside(x, y, box):
    x0, y0, x1, y1 = box
    return x0 <= x < x1 and y0 <= y < y1


def check_localises(run, data_root):
    cfg, work_dir, summary = run
    right, hits, control, layer = localisation(work_dir, cfg.filename, data_root, METHOD)
    assert right >= 5 * SHAPES_VAL, (summary, right)   # a model that has learnt something
    assert hits / right >= MIN_HITS and hits > control, (layer, hits, control, right)


def test_resnet18_cam_peaks_on_the_drawn_shape(demo_run, shapes_demo):
    check_localises(demo_run, shapes_demo)


def test_swin_t_cam_peaks_on_the_drawn_shape(swin_demo_run, shapes_demo):
    check_localises(swin_demo_run, shapes_demo)


def test_default_layer_is_mmcls_at_224_and_a_finer_stage_on_small_inputs(demo_run):
    model = init_model(demo_run[0])
    assert default_target_layer(model, (224, 224)) == 'backbone.layer4'   # 7x7
    assert default_target_layer(model, (32, 32)) == 'backbone.layer1'     # 8x8 (layer4: 1x1)


def test_swin_default_layer_is_mmcls_at_224_and_an_mlp_activation_on_small_inputs():
    for size, layer in ((224, 'backbone.norm'), (32, 'backbone.layers.0.blocks.1.mlp.act')):
        model = init_model(SWIN_CONFIG, cfg_options={'model.backbone.img_size': size})
        assert default_target_layer(model, (size, size)) == layer


def test_gradcam_plus_plus_weights_follow_the_paper():
    """alpha = g^2 / (2 g^2 + sum(A) g^3) on positive gradients; Grad-CAM: the mean gradient."""
    acts = np.array([[[[1.0, 2.0], [0.0, 1.0]]]])
    grads = np.array([[[[0.5, -1.0], [0.0, 2.0]]]])
    assert cam_weights(acts, grads, 'gradcam')[0, 0] == pytest.approx(0.375)
    s = acts.sum()
    expected = sum(g * g ** 2 / (2 * g ** 2 + s * g ** 3) for g in (0.5, 2.0))
    assert cam_weights(acts, grads, 'gradcam++')[0, 0] == pytest.approx(expected)


def test_vis_cam_script_writes_one_overlay_per_image_and_names_bad_layers(demo_run, shapes_demo,
                                                                          tmp_path):
    cfg, work_dir, _ = demo_run
    config = os.path.join(work_dir, os.path.basename(cfg.filename))
    ckpt = os.path.join(work_dir, 'best.ckpt')
    star = os.path.join(shapes_demo, 'val', '004.star')
    script = os.path.join(ROOT, 'scripts', 'vis_cam.py')
    res = subprocess.run([sys.executable, script, config, ckpt, '--img-dir', star,
                          '--save-path', str(tmp_path / 'cams'), '--method', 'gradcam++',
                          '--target-category', '3'], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    written = sorted(os.listdir(tmp_path / 'cams'))
    assert written == [f'{i:04d}_cam.jpg' for i in range(SHAPES_VAL)]
    assert 'gradcam++ of 004.star at backbone.layer1' in res.stdout
    res = subprocess.run([sys.executable, script, config, ckpt, '--img',
                          os.path.join(star, '0000.jpg'), '--save-path', str(tmp_path / 'x.jpg'),
                          '--target-layers', 'backbone.layer9'],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "ERROR: --target-layers 'backbone.layer9': no such layer" \
        in res.stderr and 'backbone.layer4' in res.stderr, res.stderr[-2000:]
    assert not os.path.exists(tmp_path / 'x.jpg')


def test_token_maps_need_a_grid():
    from ms_cls.analysis.cam import _as_map
    assert _as_map(np.zeros((2, 12, 5)), (24, 32)).shape == (2, 5, 3, 4)
    with pytest.raises(ConfigError, match='cannot lay 7 tokens'):
        _as_map(np.zeros((1, 7, 5)), (32, 32))
