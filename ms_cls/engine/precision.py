"""Mixed precision of a run: the amp level and the loss scaling that goes with it."""
from dataclasses import dataclass

from mindspore.amp import DynamicLossScaleManager, FixedLossScaleManager

from ..errors import ConfigError
from ..runtime import resolve_amp_level
from ..validation import check_keys

NOT_SET = object()  # a config without the key (loss_scale=None means no scaling)
COMPUTE = {'O0': 'float32 everywhere', 'O1': 'float16 for convolutions and matmuls',
           'O2': 'float16 except BatchNorm/LayerNorm and the loss', 'O3': 'float16 everywhere'}


@dataclass
class Precision:
    """``amp_level`` for ``Model``; ``manager`` its loss-scale manager (or None);
    ``optimizer_loss_scale`` the fixed scale the optimizer divides out; ``line`` says it all."""
    amp_level: str
    manager: object
    optimizer_loss_scale: float
    line: str


def precision_for(amp_level, loss_scale, fp16, device):
    """From ``amp_level``/``loss_scale`` or mmcls's ``fp16=dict(loss_scale=512.)`` (which means
    O2 unless amp_level says otherwise). ``amp_level``/``fp16`` None and ``loss_scale`` NOT_SET
    mean the key is not in the config."""
    if fp16 is None:
        level = resolve_amp_level(amp_level or 'auto', device)
        scale = 'dynamic' if loss_scale is NOT_SET else loss_scale
    else:
        check_keys(fp16, ('loss_scale',), 'fp16')
        if loss_scale is not NOT_SET:
            raise ConfigError("Both fp16 and loss_scale are set; keep one (fp16=dict(loss_scale="
                              "...) is mmcls's spelling of amp_level='O2' with that loss scale).")
        level = resolve_amp_level(amp_level or 'O2', device)
        scale = fp16.get('loss_scale', 512.0)
    return Precision(level, *loss_scaling(scale, level, device))


def loss_scaling(loss_scale, amp_level, device):
    """-> (loss-scale manager or None, the optimizer's loss_scale, one line saying what was chosen).

    No scaling in fp32 (O0). Otherwise 'dynamic', a number, or dict(type=.., init_scale=..).
    A fixed scale without overflow checks needs the optimizer to divide the gradients by the same
    number; CPU supports only that kind, so 'dynamic' becomes fixed there (and the line says so).
    """
    head = f"amp: {amp_level} on {device} ({COMPUTE[amp_level]})"
    if amp_level == 'O0' or loss_scale is None:
        return None, 1.0, f"{head}, no loss scaling" + (
            "; on CPU float16 is slower than float32, so amp_level='auto' means O0"
            if device == 'CPU' else '')
    if isinstance(loss_scale, dict):
        kind = loss_scale.get('type', 'dynamic')
        value = loss_scale.get('init_scale', loss_scale.get('loss_scale', 2 ** 10))
    elif loss_scale == 'dynamic':
        kind, value = 'dynamic', 2 ** 16
    elif isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool) \
            and loss_scale > 0:
        kind, value = 'fixed', loss_scale
    else:
        kind, value = None, None
    if kind not in ('dynamic', 'fixed'):
        raise ConfigError(f"loss_scale={loss_scale!r}; use 'dynamic', a positive number, or "
                          "dict(type='dynamic'|'fixed', init_scale=...).")
    if kind == 'dynamic' and device != 'CPU':
        return (DynamicLossScaleManager(init_loss_scale=float(value)), 1.0,
                f"{head}, dynamic loss scale starting at {value:g}")
    line = f"{head}, fixed loss scale {value:g}"
    if kind == 'dynamic':
        value = 2 ** 10
        line = (f"{head}, fixed loss scale {value} (MindSpore has no dynamic loss scale on "
                "CPU; 'dynamic' was asked)")
    return FixedLossScaleManager(float(value), drop_overflow_update=False), float(value), line
