"""Training-step throughput of ms_cls (Model + its callbacks) vs a bare TrainOneStepCell loop.

    python benchmarks/train_step.py [--archs resnet50 swin-tiny] [--batch 8] [--size 224] [--steps 6]

Both sides train the same network on the same in-memory random batches in graph mode; a first
(compiling, warming) pass over the batches is excluded on both sides. Prints img/s for each and
the ratio ms_cls / bare measured in this run (target >= 0.95).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ms_cls  # noqa: E402,F401
import mindspore as ms  # noqa: E402
import mindspore.dataset as ds  # noqa: E402
import mindspore.nn as nn  # noqa: E402
from mindspore.train import Model  # noqa: E402

from ms_cls.engine.callbacks import RunState, TrainMonitor  # noqa: E402
from ms_cls.engine.optim import build_optimizer, optimizer_spec  # noqa: E402
from ms_cls.models.builder import build_loss, build_model  # noqa: E402
from ms_cls.models.convert import model_cfg  # noqa: E402


class NullLog:
    """TrainMonitor writes through this; printing would time the terminal, not the trainer."""

    def info(self, line):
        pass

    def record(self, **fields):
        pass


def make_net(arch, size):
    cfg = model_cfg(arch, 10)
    if arch.startswith('swin'):
        cfg['backbone']['img_size'] = size
    net = build_model(cfg)
    spec = optimizer_spec(dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
    opt = build_optimizer(spec, net.trainable_params(), np.full(10_000, 0.01, np.float32))
    return cfg, net, opt


def batches(batch, size, steps):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((batch * steps, 3, size, size)).astype(np.float32),
            rng.integers(0, 10, batch * steps).astype(np.int32))


def bare_img_per_s(arch, batch, size, steps):
    cfg, net, opt = make_net(arch, size)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, build_loss(cfg)), opt)
    step.set_train(True)
    images, labels = batches(batch, size, steps)
    chunks = [(ms.Tensor(images[i * batch:(i + 1) * batch]), ms.Tensor(labels[i * batch:(i + 1) * batch]))
              for i in range(steps)]
    for x, y in chunks:   # compile and warm up, as the ms_cls side's first epoch does
        step(x, y).asnumpy()
    start = time.perf_counter()
    for x, y in chunks:
        step(x, y).asnumpy()
    return batch * steps / (time.perf_counter() - start)


def ms_cls_img_per_s(arch, batch, size, steps):
    cfg, net, opt = make_net(arch, size)
    images, labels = batches(batch, size, steps)
    data = ds.NumpySlicesDataset({'image': images, 'label': labels}, shuffle=False).batch(batch)
    model = Model(net, loss_fn=build_loss(cfg), optimizer=opt)
    monitor = TrainMonitor(NullLog(), RunState(), np.full(10_000, 0.01, np.float32), 2, 1)
    model.train(1, data, callbacks=[monitor], dataset_sink_mode=False)   # compile
    start = time.perf_counter()
    model.train(1, data, callbacks=[monitor], dataset_sink_mode=False)
    return batch * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--archs', nargs='+', default=['resnet50', 'swin-tiny'])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--steps', type=int, default=6)
    args = parser.parse_args()
    ms.set_context(mode=ms.GRAPH_MODE)
    for arch in args.archs:
        bare = bare_img_per_s(arch, args.batch, args.size, args.steps)
        ours = ms_cls_img_per_s(arch, args.batch, args.size, args.steps)
        print(f"{arch:10s} batch {args.batch} {args.size}px: bare {bare:7.2f} img/s, "
              f"ms_cls {ours:7.2f} img/s, ratio {ours / bare:.3f}", flush=True)


if __name__ == '__main__':
    main()
