"""Evaluation metrics (mmcls semantics, as fractions) on hand-made predictions."""
import numpy as np
import pytest

from ms_cls.errors import ConfigError
from ms_cls.evaluation.metrics import confusion_matrix, evaluate, per_class_table

CLASSES = ['a', 'b', 'c']
# rows: images; the argmax is the prediction
PROBS = np.array([[.8, .1, .1], [.6, .3, .1], [.2, .7, .1], [.5, .1, .4], [.1, .2, .7]])
LABELS = np.array([0, 1, 1, 2, 2])   # predictions: 0, 0, 1, 0, 2


def test_accuracy_topk_and_skips_k_above_class_count():
    res = evaluate(PROBS, LABELS, CLASSES, ['accuracy'], dict(topk=(1, 2, 5)))
    assert res == {'accuracy_top-1': pytest.approx(3 / 5), 'accuracy_top-2': pytest.approx(5 / 5)}


def test_precision_recall_f1_support_macro_and_per_class():
    per = evaluate(PROBS, LABELS, CLASSES, ['precision', 'recall', 'f1_score', 'support'],
                   dict(average_mode='none'))
    assert per['precision'] == pytest.approx([1 / 3, 1.0, 1.0])
    assert per['recall'] == pytest.approx([1.0, 0.5, 0.5])
    assert per['f1_score'] == pytest.approx([0.5, 2 / 3, 2 / 3])
    assert per['support'] == [1, 2, 2]
    assert evaluate(PROBS, LABELS, CLASSES, ['support'], dict(average_mode=None)) == \
        {'support': [1, 2, 2]}                          # 'average_mode=none' on the command line
    macro = evaluate(PROBS, LABELS, CLASSES, ['precision', 'recall', 'support'])
    assert macro['precision'] == pytest.approx((1 / 3 + 2) / 3)
    assert macro['recall'] == pytest.approx(2 / 3) and macro['support'] == 5


def test_per_class_table_and_confusion():
    table = per_class_table(PROBS, LABELS, CLASSES)
    assert list(table.index) == CLASSES
    assert table.loc['b', 'most_confused_with'] == 'a' and table.loc['a', 'most_confused_with'] == ''
    assert confusion_matrix(PROBS.argmax(1), LABELS, 3).tolist() == [[1, 0, 0], [1, 1, 0], [1, 0, 1]]


def test_bad_metric_requests_are_explained():
    with pytest.raises(ConfigError, match="--metrics 'mAP' is not known"):
        evaluate(PROBS, LABELS, CLASSES, ['mAP'])
    with pytest.raises(ConfigError, match='average_mode'):
        evaluate(PROBS, LABELS, CLASSES, ['recall'], dict(average_mode='micro'))
    with pytest.raises(ConfigError, match='has no labels'):
        evaluate(PROBS, np.array([-1] * 5), CLASSES)
