"""Mixed precision: the amp level and loss scaling a config asks for, on each device."""
import pytest
from mindspore.amp import DynamicLossScaleManager, FixedLossScaleManager

from ms_cls.engine.precision import NOT_SET, loss_scaling, precision_for
from ms_cls.errors import ConfigError


def test_loss_scaling_choices_and_the_amp_line():
    manager, opt_scale, line = loss_scaling('dynamic', 'O0', 'CPU')
    assert (manager, opt_scale) == (None, 1.0)
    assert line.startswith('amp: O0 on CPU (float32 everywhere), no loss scaling')
    manager, opt_scale, line = loss_scaling('dynamic', 'O2', 'GPU')
    assert isinstance(manager, DynamicLossScaleManager) and opt_scale == 1.0
    assert line == ('amp: O2 on GPU (float16 except BatchNorm/LayerNorm and the loss), '
                    'dynamic loss scale starting at 65536')
    manager, opt_scale, line = loss_scaling('dynamic', 'O2', 'CPU')
    assert isinstance(manager, FixedLossScaleManager) and not manager.get_drop_overflow_update()
    assert opt_scale == manager.get_loss_scale() == 1024 and 'no dynamic loss scale on CPU' in line
    manager, opt_scale, line = loss_scaling(dict(type='fixed', init_scale=128), 'O2', 'GPU')
    assert opt_scale == manager.get_loss_scale() == 128 and line.endswith('fixed loss scale 128')
    assert loss_scaling(None, 'O2', 'GPU')[:2] == (None, 1.0)
    with pytest.raises(ConfigError, match="loss_scale='big'"):
        loss_scaling('big', 'O2', 'GPU')


def test_mmcls_fp16_section_means_o2_with_its_loss_scale():
    fp16 = precision_for(None, NOT_SET, dict(loss_scale=512.), 'GPU')
    assert fp16.amp_level == 'O2' and fp16.optimizer_loss_scale == 512.0
    assert fp16.line.endswith('fixed loss scale 512')
    o1 = precision_for('O1', NOT_SET, dict(loss_scale='dynamic'), 'CPU')
    assert o1.amp_level == 'O1' and 'no dynamic loss scale on CPU' in o1.line
    default = precision_for(None, NOT_SET, None, 'CPU')
    assert default.amp_level == 'O0' and default.manager is None
    assert precision_for(None, NOT_SET, None, 'GPU').amp_level == 'O2'
    with pytest.raises(ConfigError, match='Both fp16 and loss_scale'):
        precision_for(None, 8, dict(loss_scale=512.), 'GPU')
    with pytest.raises(ConfigError, match="Unknown key 'los_scale'"):
        precision_for(None, NOT_SET, dict(los_scale=512.), 'GPU')
    with pytest.raises(ConfigError, match="amp_level='O4'"):
        precision_for('O4', NOT_SET, None, 'GPU')
