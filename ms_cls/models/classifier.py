"""ImageClassifier = backbone -> neck -> head, with MindCV's flat parameter names.

The classifier is built with ``auto_prefix=False`` so that its children do not add 'backbone.' or
'head.' to parameter names: a ResNet-50 here has exactly the names of MindCV's resnet50
(``conv1.weight`` ... ``classifier.weight``), and MindCV checkpoints load as they are.
"""
import mindspore.nn as nn
import mindspore.ops as ops

from .init import apply_initialisers


class GlobalAveragePooling(nn.Cell):
    """(N, C, H, W) -> (N, C)."""

    def __init__(self, dim=2):
        super().__init__()
        if dim != 2:
            raise ValueError(f"GlobalAveragePooling supports dim=2 only, got dim={dim!r}.")

    def construct(self, x):
        return ops.mean(x, axis=(2, 3))


class LinearClsHead(nn.Cell):
    """One Dense layer named ``classifier`` (MindCV's name). ``loss`` is built by the model
    builder and handed to ``mindspore.train.Model``; ``topk`` picks the validation metrics.
    ``cal_acc`` (mmcls: training accuracy in the loss dict) changes nothing here; validation
    reports top-1/top-5. The weights start as mmcls's do (``default_init_cfg``) unless the config
    gives the head an ``init_cfg`` (None: MindSpore's Dense initialisation)."""

    default_init_cfg = dict(type='Normal', layer='Linear', std=0.01)
    default_loss = dict(type='CrossEntropyLoss', loss_weight=1.0)
    #: mmcls's child names (an init_cfg ``override``) -> this head's
    mmcls_names = {'fc': 'classifier'}

    def __init__(self, num_classes, in_channels, loss=None, topk=(1, 5), cal_acc=False):
        super().__init__()
        self.in_channels = in_channels
        self.loss_cfg = loss or self.default_loss
        self.topk = (topk,) if isinstance(topk, int) else tuple(topk)
        self.cal_acc = cal_acc
        self.initialisers = []   # the checked init_cfg, set by the model builder
        self.reset(num_classes)

    def reset(self, num_classes):
        """A new ``classifier`` with ``num_classes`` outputs, initialised as the config says."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"head num_classes must be a positive int, got {num_classes!r}.")
        self.num_classes = num_classes
        self.classifier = nn.Dense(self.in_channels, num_classes)
        apply_initialisers(self, self.initialisers, self.mmcls_names)

    def construct(self, x):
        return self.classifier(x)


class MultiLabelLinearClsHead(LinearClsHead):
    """mmcls's ``MultiLabelLinearClsHead`` as its mixup/cutmix configs use it: a linear head
    trained on one label per image, mixed by the batch augments into soft targets (with
    ``loss=dict(type='CrossEntropyLoss', use_soft=True)``; mmcls's default loss is the sigmoid
    one). Data sets with several labels per image are not supported. Scores are softmax
    probabilities, so top-1 is the same class mmcls's sigmoid scores pick."""

    default_loss = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)


class ImageClassifier(nn.Cell):
    """Images (N, C, H, W) float32 -> logits (N, num_classes), timm's interface on top:
    ``forward_features`` (pooled features, N x num_features), ``num_features``, ``num_classes``
    and ``reset_classifier``.

    ``classes`` (names, index = label) travel with the model: they are saved in checkpoints and
    used by inference to name predictions.
    """

    def __init__(self, backbone, neck, head, classes=None):
        super().__init__(auto_prefix=False)
        self.backbone = backbone
        self.neck = neck
        self.head = head
        self.classes = list(classes) if classes is not None else None

    @property
    def num_features(self):
        """Width of ``forward_features`` (the neck keeps the backbone's channels)."""
        return self.backbone.out_channels

    @property
    def num_classes(self):
        return self.head.num_classes

    def forward_features(self, x):
        return self.neck(self.backbone(x))

    def reset_classifier(self, num_classes):
        """Replace the head's Dense by a new one with ``num_classes`` outputs (fine-tuning on
        another label set); its parameters keep the names ``classifier.weight/bias``. The class
        names no longer apply and are cleared."""
        self.head.reset(num_classes)
        self.classes = None

    def construct(self, x):
        return self.head(self.forward_features(x))
