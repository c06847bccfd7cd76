"""One bare training loop in a process of its own, for settings read once per process (oneDNN's
ISA, OpenMP and MindSpore thread counts, jit level) and for other frameworks (MindCV, PyTorch
+ timm). Run by cpu_levers.py and peers.py through ``_common.child_rounds``::

    python benchmarks/_step_child.py --child '{"source": "ms_cls", "arch": "resnet50", ...}'

prints {"step_s": [seconds per step, after one compiling step], "note": ...} as one JSON line.
"""
import _common as C

#: MindSpore settings a lever may change before the graph is compiled, and how.
MS_LEVERS = {
    'op_threads': lambda ms, n: ms.device_context.cpu.op_tuning.threads_num(n),
    'dispatch_threads': lambda ms, n: ms.runtime.dispatch_threads_num(n),
    'affinity': lambda ms, on: ms.runtime.set_cpu_affinity(on),
    'jit_level': lambda ms, level: ms.set_context(jit_config={'jit_level': level}),
    'graph_kernel': lambda ms, on: ms.set_context(enable_graph_kernel=on),
}


def ms_network(source, arch, size):
    """(network, loss) from ms_cls or from MindCV (``create_model``, no weights)."""
    from ms_cls.models.builder import build_loss
    if source == 'mindcv':
        from mindcv.models import create_model
        from mindspore import nn
        return (create_model(arch, num_classes=10, pretrained=False),
                nn.CrossEntropyLoss())
    cfg, net = C.make_net(arch, size)
    return net, build_loss(cfg)


def nhwc_check(ms):
    """MindSpore's CPU convolutions are NCHW only: this raises there (a ValueError naming GPU)."""
    import numpy as np
    from mindspore import nn
    nn.Conv2d(3, 8, 3, data_format='NHWC')(ms.Tensor(np.zeros((1, 8, 8, 3), np.float32)))


def ms_steps(source, arch, size, batch, steps, levers):
    import mindspore as ms
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device('CPU')
    for name, value in levers.items():
        if name == 'nhwc':
            nhwc_check(ms)
        else:
            MS_LEVERS[name](ms, value)
    net, loss = ms_network(source, arch, size)
    run = C.bare_loop(net, loss, C.sgd(net.trainable_params()), C.random_batches(batch, size, 1))
    return C.step_seconds(run, steps)


def torch_model(arch):
    """timm's model, else the torchvision-layout one of _torch_resnet.py; -> (model, note)."""
    try:
        import timm
        return timm.create_model(arch, pretrained=False, num_classes=10), f'timm {timm.__version__}'
    except ImportError as err:
        from _torch_resnet import resnet
        return resnet(arch, 10), f'no timm ({err}): _torch_resnet.py'


def torch_steps(arch, size, batch, steps):
    import torch
    model, note = torch_model(arch)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = C.random_batches(batch, size, 1)[0]
    x, y = torch.from_numpy(x), torch.from_numpy(y).long()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
    return C.step_seconds(step, steps), (f'torch {torch.__version__}, '
                                         f'{torch.get_num_threads()} threads, {note}')


def measure(source, arch, size, batch, steps, levers=None):
    if source == 'torch':
        times, note = torch_steps(arch, size, batch, steps)
        return {'step_s': times, 'note': note}
    if source == 'mindcv':
        import mindcv
        note = f'mindcv {mindcv.__version__}'
    else:
        note = 'ms_cls'
    return {'step_s': ms_steps(source, arch, size, batch, steps, levers or {}), 'note': note}


if __name__ == '__main__':
    C.child_main(measure)
