import numpy as np
import pytest

from ms_cls.apis import inference_model, init_model


def test_model_only_config_and_array_input(write):
    path = write('m.py', """
model = dict(type='ImageClassifier',
             backbone=dict(type='ResNet', depth=18),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=3, in_channels=512))
""")
    model = init_model(path)
    assert model.classes == ['0', '1', '2']
    img = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    result = inference_model(model, img)
    assert set(result) == {'pred_label', 'pred_score', 'pred_class'}
    assert result['pred_class'] == str(result['pred_label'])
    with pytest.raises(ValueError, match='HWC uint8'):
        inference_model(model, img.astype(np.float32))
