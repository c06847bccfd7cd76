"""Evaluation metrics (mmcls semantics, as fractions) on hand-made predictions, and the same
numbers through MindSpore's Model."""
import mindspore as ms
import numpy as np
import pytest

from ms_cls.errors import ConfigError
from ms_cls.evaluation.metrics import confusion_matrix, evaluate, per_class_table, topk_accuracy

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


def tied_logits(n=103, classes=7, seed=0):
    """Scores 0..3 in steps of 1: most rows have ties that decide top-1 and top-5."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 4, (n, classes)).astype(np.float32),
            rng.integers(0, classes, n).astype(np.int32))


def test_topk_metric_fed_in_batches_is_exactly_topk_accuracy():
    from ms_cls.evaluation.model_metrics import TopKAccuracy
    logits, labels = tied_logits()
    # the set is one where the tie rule matters: reversing the class order changes top-1
    assert topk_accuracy(logits[:, ::-1], 6 - labels, 1) != topk_accuracy(logits, labels, 1)
    for k in (1, 2, 5):
        metric = TopKAccuracy(k)
        metric.update(np.zeros((3, 7), np.float32), np.zeros(3, np.int32))
        metric.clear()                                 # Model clears before each evaluation
        for lo, hi in ((0, 1), (1, 11), (11, 43), (43, 103)):
            metric.update(ms.Tensor(logits[lo:hi]), ms.Tensor(labels[lo:hi]))
        assert metric.eval() == topk_accuracy(logits, labels, k)
        one_hot = TopKAccuracy(k)
        one_hot.update(logits, np.eye(7, dtype=np.float32)[labels])
        assert one_hot.eval() == topk_accuracy(logits, labels, k)
    with pytest.raises(RuntimeError, match='no samples'):
        TopKAccuracy(1).eval()
    with pytest.raises(ValueError, match='positive int'):
        TopKAccuracy(0)


def test_model_eval_and_fit_report_the_metric_under_its_key():
    """A real Model on a tiny Dense net (integer weights and inputs: exact ties in the logits);
    fit with lr 0 validates the same weights, so both give topk_accuracy of net's logits."""
    import mindspore.dataset as ds
    import mindspore.nn as nn
    from mindspore.train import Callback, Model
    from ms_cls.evaluation.model_metrics import TopKAccuracy
    rng = np.random.default_rng(1)
    net = nn.Dense(4, 7)
    net.weight.set_data(ms.Tensor(rng.integers(-1, 2, (7, 4)).astype(np.float32)))
    net.bias.set_data(ms.Tensor(np.zeros(7, np.float32)))
    x = rng.integers(0, 2, (50, 4)).astype(np.float32)
    y = rng.integers(0, 7, 50).astype(np.int32)
    logits = net(ms.Tensor(x)).asnumpy()
    expected = {'top_1': topk_accuracy(logits, y, 1), 'top_5': topk_accuracy(logits, y, 5)}
    def data():   # 16, 16, 16, 2
        return ds.NumpySlicesDataset((x, y), ['image', 'label'], shuffle=False).batch(16)

    model = Model(net, loss_fn=nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction='mean'),
                  optimizer=nn.SGD(net.trainable_params(), learning_rate=0.0),
                  metrics={'top_1': TopKAccuracy(1), 'top_5': TopKAccuracy(5)})
    assert model.eval(data(), dataset_sink_mode=False) == expected

    class Capture(Callback):
        def on_train_epoch_end(self, run_context):
            self.results = dict(run_context.original_args().eval_results)
    capture = Capture()
    model.fit(1, data(), valid_dataset=data(), callbacks=[capture], dataset_sink_mode=False)
    assert capture.results == dict(expected, eval_loss=capture.results['eval_loss'])   # fit adds it
