"""Python API in mmcls's shape: ``init_model`` then ``inference_model``."""
import numpy as np
import mindspore as ms
import mindspore.ops as ops

from .config import Config
from .errors import ConfigError
from .data.datasets import load_rgb
from .data.pipeline import apply_pipeline, build_pipeline
from .models.builder import PretrainedSpec, build_model
from .checkpoint import load_weights
from .runtime import init_context
from .weights.sources import check_reference, pretrained_params

#: Used when a config holds only ``model=...``: ImageNet statistics, no resizing.
DEFAULT_TEST_PIPELINE = [dict(type='Normalize', mean=[123.675, 116.28, 103.53],
                              std=[58.395, 57.12, 57.375], to_rgb=True)]


def _test_pipeline(cfg):
    data = cfg.get('data') or {}
    for split in ('test', 'val'):
        if isinstance(data.get(split), dict) and data[split].get('pipeline'):
            return data[split]['pipeline']
    return cfg.get('test_pipeline') or DEFAULT_TEST_PIPELINE


def init_model(config, checkpoint=None, cfg_options=None):
    """Build the classifier of ``config`` (path or Config), load ``checkpoint`` (a path, an
    https:// URL, torchvision://NAME or mindcv://NAME; MindSpore or PyTorch), set eval mode.

    Class names come from the checkpoint (ms_cls writes them there); without one they are the
    label indices as strings. The config and its test pipeline are kept on ``model.cfg``.
    The device and mode (graph by default) are the config's, as in training.
    """
    cfg = config if isinstance(config, Config) else Config.fromfile(config, cfg_options)
    if isinstance(config, Config) and cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_context(cfg.get('device_target', 'auto'), cfg.get('mode', 'graph'))
    if 'model' not in cfg:
        raise ConfigError(f"{cfg.filename}: no 'model' in the config.")
    model = build_model(cfg.model)
    if checkpoint:
        check_reference(checkpoint, 'checkpoint')
        params, path, meta = pretrained_params(PretrainedSpec('checkpoint', checkpoint),
                                               cfg.model.backbone, log=print)
        meta = load_weights(model, path, log=lambda *_: None, params=params, meta=meta)
        classes = meta.get('classes')
        if classes is not None and len(classes) != model.head.num_classes:
            raise ConfigError(f"{checkpoint} holds {len(classes)} classes but the config's "
                              f"model.head.num_classes is {model.head.num_classes}.")
        model.classes = classes
    if model.classes is None:
        model.classes = [str(i) for i in range(model.head.num_classes)]
    model.cfg = cfg
    model.test_ops = build_pipeline(_test_pipeline(cfg), 'test pipeline')
    model.set_train(False)
    return model


def inference_model(model, img):
    """Classify one image (a file path or an HWC uint8 RGB array).

    Returns dict(pred_label, pred_score, pred_class), the score being the softmax probability.
    """
    if isinstance(img, str):
        img = load_rgb(img)
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"inference_model expects an HWC uint8 RGB array, got dtype {img.dtype} "
                         f"shape {img.shape}.")
    batch = ms.Tensor(apply_pipeline(model.test_ops, img)[None])
    scores = ops.softmax(model(batch), axis=-1).asnumpy()[0]
    label = int(scores.argmax())
    return dict(pred_label=label, pred_score=float(scores[label]), pred_class=model.classes[label])
