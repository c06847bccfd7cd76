"""Why ms_cls sets ONEDNN_MAX_CPU_ISA=AVX2 on CPU: time ResNet-18 train steps with and without it.

    python benchmarks/onednn_isa.py [--batch 8] [--size 32] [--steps 3]

Each setting runs in its own process (oneDNN reads the variable once); prints s/step and the
ratio measured in this run.
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def time_steps(batch, size, steps):
    """Seconds per ResNet-18 training step (graph mode, after one warm-up/compile step)."""
    sys.path.insert(0, ROOT)
    import numpy as np
    import mindspore as ms
    from mindspore import nn
    import ms_cls  # noqa: F401
    from ms_cls.config import Config
    from ms_cls.models.builder import build_loss, build_model
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/resnet/resnet18_1xb64_demo-32px.py'))
    net = build_model(cfg.model)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, build_loss(cfg.model)),
                               nn.Momentum(net.trainable_params(), 0.01, 0.9))
    x = ms.Tensor(np.random.rand(batch, 3, size, size).astype(np.float32))
    y = ms.Tensor(np.random.randint(0, 10, batch).astype(np.int32))
    step(x, y).asnumpy()
    start = time.perf_counter()
    for _ in range(steps):
        step(x, y).asnumpy()
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(time_steps(args.batch, args.size, args.steps))
        return
    results = {}
    for label, isa in (('ONEDNN_MAX_CPU_ISA=AVX2', 'AVX2'), ('oneDNN default', 'ALL')):
        env = dict(os.environ, ONEDNN_MAX_CPU_ISA=isa, GLOG_v='3')
        out = subprocess.run([sys.executable, __file__, '--child', '--batch', str(args.batch),
                              '--size', str(args.size), '--steps', str(args.steps)],
                             env=env, capture_output=True, text=True, check=True)
        results[label] = float(out.stdout.strip().splitlines()[-1])
        print(f"{label:24s} {results[label]:8.3f} s/step  (ResNet-18, batch {args.batch}, "
              f"{args.size}px)", flush=True)
    ratio = results['oneDNN default'] / results['ONEDNN_MAX_CPU_ISA=AVX2']
    print(f"default / AVX2 = {ratio:.1f}x")


if __name__ == '__main__':
    main()
