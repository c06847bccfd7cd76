"""The Python half of device_check.sh: what MindSpore can run on here, and a train-step figure.

    python benchmarks/device_check.py info
    python benchmarks/device_check.py train-step [--batches 128 256] [--size 224] [--steps 10]

``info`` prints the device ms_cls would use, the MindSpore build, the device plugins inside the
installed package and, for each, the shared libraries it needs that the loader cannot find
(``ldd``) with the pip package or toolkit that provides them; then the amp level ms_cls chooses.
It installs nothing. ``train-step`` times ResNet-50 training through ``mindspore.train.Model``
(ms_cls's path) at that amp level, one compiling pass excluded.
"""
import argparse
import glob
import os
import platform
import shutil
import subprocess
import sys

import _common as C

#: a missing library -> what provides it (MindSpore 2.10's GPU plugins are CUDA 11.1 / 11.6)
PROVIDERS = {
    'libcudart.so.11.0': 'nvidia-cuda-runtime-cu11', 'libcublas.so.11': 'nvidia-cublas-cu11',
    'libcublasLt.so.11': 'nvidia-cublas-cu11', 'libcudnn.so.8': "'nvidia-cudnn-cu11<9'",
    'libcufft.so.10': 'nvidia-cufft-cu11', 'libcurand.so.10': 'nvidia-curand-cu11',
    'libcusolver.so.11': 'nvidia-cusolver-cu11', 'libcusparse.so.11': 'nvidia-cusparse-cu11',
    'libnvrtc.so.11.2': 'nvidia-cuda-nvrtc-cu11',
    'libcuda.so.1': 'the NVIDIA driver (libcuda.so.1; not a pip package, nvidia-smi must work)',
}
ASCEND_HINT = ("the CANN toolkit matching MindSpore 2.10 (source "
               "/usr/local/Ascend/ascend-toolkit/set_env.sh before running)")


def missing_libraries(path):
    """Libraries ``path`` needs that the dynamic loader does not find now (``ldd``)."""
    if not shutil.which('ldd'):
        return ['(ldd not found: cannot tell)']
    out = subprocess.run(['ldd', path], capture_output=True, text=True).stdout
    return sorted({line.split()[0] for line in out.splitlines() if 'not found' in line})


def pip_cuda_dirs():
    """lib folders of pip's nvidia-*-cu11 packages, which are not on the loader's path by
    themselves."""
    dirs = []
    for site in sys.path:
        dirs += sorted(glob.glob(os.path.join(site, 'nvidia', '*', 'lib')))
    return dirs


def run_tool(command):
    """First lines of a device tool's output, or why it did not run."""
    if not shutil.which(command[0]):
        return f'{command[0]}: not found'
    out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    text = (out.stdout or out.stderr).strip().splitlines()
    return ' | '.join(text[:3]) or f'{command[0]}: no output (exit {out.returncode})'


def info():
    import mindspore as ms
    from ms_cls.runtime import available_device, resolve_amp_level
    lib = os.path.join(os.path.dirname(ms.__file__), 'lib', 'plugin')
    print(f"Python {platform.python_version()}, MindSpore {ms.__version__} "
          f"({os.path.dirname(ms.__file__)}), {C.cpu_model()}")
    print(f"CUDA_HOME={os.environ.get('CUDA_HOME', '(unset: the CUDA 11.6 plugin is tried)')}")
    print(f"nvidia-smi: {run_tool(['nvidia-smi', '--query-gpu=name,driver_version,compute_cap', '--format=csv,noheader'])}")
    print(f"npu-smi: {run_tool(['npu-smi', 'info'])}")
    plugins = sorted(glob.glob(os.path.join(lib, 'libmindspore_*.so*')))
    print(f"plugins in {lib}: " + (', '.join(os.path.basename(p) for p in plugins) or 'none'))
    pip_wanted, system_wanted = set(), set()
    for plugin in plugins:
        name = os.path.basename(plugin)
        if 'ops_' in name:    # the op libraries load with their device plugin
            continue
        missing = missing_libraries(plugin)
        print(f"  {name}: " + ('all libraries found' if not missing else
                               'missing ' + ', '.join(missing)))
        if 'gpu.so.11.6' in name:
            pip_wanted.update(PROVIDERS[m] for m in missing if m in PROVIDERS
                              and PROVIDERS[m].startswith(("nvidia-", "'nvidia-")))
            system_wanted.update(f"GPU: {PROVIDERS.get(m, m)}" for m in missing
                                 if not PROVIDERS.get(m, '').startswith(("nvidia-", "'nvidia-")))
        if 'ascend' in name and missing:
            system_wanted.add(f"Ascend: {ASCEND_HINT}")
    found = pip_cuda_dirs()
    if found:
        print("pip CUDA libraries found (put them on LD_LIBRARY_PATH for the GPU plugin):\n"
              "  export LD_LIBRARY_PATH=" + ':'.join(found) + ':$LD_LIBRARY_PATH')
    device = available_device()
    print(f"device ms_cls uses (device_target='auto'): {device}")
    if device == 'CPU':
        print("no GPU or Ascend device was usable. To use one:")
        if pip_wanted:
            print("  GPU: pip install " + ' '.join(sorted(pip_wanted)))
        for need in sorted(system_wanted):
            print(f"  {need}")
    print(f"amp level (amp_level='auto'): {resolve_amp_level('auto', device)}")


def train_step(batches, size, steps):
    import mindspore as ms
    from ms_cls.engine.precision import NOT_SET, precision_for
    from ms_cls.models.builder import build_loss
    from ms_cls.runtime import init_context
    device = init_context('auto', 'graph')
    precision = precision_for('auto', NOT_SET, None, device)
    print(f"{precision.line}", flush=True)
    for batch in batches:
        cfg, net = C.make_net('resnet50', size, 1000)
        loop = C.ms_cls_loop(net, build_loss(cfg), C.sgd(net.trainable_params()),
                             C.random_batches(batch, size, 1), repeat=steps,
                             amp_level=precision.amp_level, loss_scale_manager=precision.manager)
        try:
            (seconds,), = C.interleaved([loop], 1)
        except (RuntimeError, MemoryError) as err:
            print(f"ResNet-50 {size}px batch {batch}: failed ({str(err).splitlines()[0][:200]})")
            continue
        print(f"ResNet-50 {size}px batch {batch} on {device}, amp {precision.amp_level}: "
              f"{batch * steps / seconds:.1f} img/s ({steps} steps, ms_cls's Model path)",
              flush=True)
        del loop, net
        if device != 'CPU':
            ms.runtime.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='what', required=True)
    sub.add_parser('info')
    step = sub.add_parser('train-step')
    step.add_argument('--batches', nargs='+', type=int, default=[128, 256])
    step.add_argument('--size', type=int, default=224)
    step.add_argument('--steps', type=int, default=10)
    args = parser.parse_args()
    if args.what == 'info':
        info()
    else:
        train_step(args.batches, args.size, args.steps)


if __name__ == '__main__':
    main()
