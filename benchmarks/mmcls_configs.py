"""How many of mmcls's own config files pass ms_cls's run plan, and what stops the others.

mmcls 0.x ships its configs inside its wheel; they are not part of this repo. Get them with

    pip download mmcls==0.25.0 --no-deps -d /tmp/mmcls && unzip -q /tmp/mmcls/*.whl -d /tmp/mmcls
    python benchmarks/mmcls_configs.py /tmp/mmcls/mmcls/.mim/configs resnet swin_transformer fp16

Each file is loaded unchanged; only the data is changed as a user fine-tuning on their own folder
changes it: every split becomes ``CustomDataset`` on the class folders of ``--data`` (the demo set
by default), its pipeline kept, ``ann_file`` dropped. The plan is then built (it reads no image).
``--train-first`` also trains one short epoch (5 steps of 2 demo images) of the first file of
each folder at the file's own input size. Measured on 2 CPU cores: resnet/ (ResNet-101 CIFAR)
16 s, swin_transformer/ (Swin-B at 384 px) 134 s, fp16/ (ResNet-50, O2) 25 s; the Swin-B run
took the process to 23 GB resident, so give it a machine with the memory.
"""
import argparse
import collections
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ms_cls  # noqa: E402,F401  (sets GLOG_v / ONEDNN_MAX_CPU_ISA before MindSpore loads)
from ms_cls.config import Config  # noqa: E402
from ms_cls.errors import UserError  # noqa: E402

SPLIT_DIRS = {'train': 'train', 'val': 'val', 'test': 'test'}


#: what mmcls's CustomDataset takes besides its location and type: kept from the file
CUSTOM_KEYS = ('pipeline', 'test_mode', 'extensions', 'file_client_args')


def as_custom(split_cfg, folder):
    """A split of an mmcls config as CustomDataset on ``folder``: what CustomDataset also takes
    kept, the data set's own location and format keys (``ann_file``...) dropped."""
    if isinstance(split_cfg, (list, tuple)):
        return [as_custom(part, folder) for part in split_cfg]
    keep = {k: v for k, v in split_cfg.items() if k in CUSTOM_KEYS}
    return dict(type='CustomDataset', data_prefix=folder, **keep)


def user_config(path, data_root):
    cfg = Config.fromfile(path)
    for split, sub in SPLIT_DIRS.items():
        if cfg.get('data') and cfg.data.get(split) is not None:
            cfg.data[split] = as_custom(cfg.data[split], os.path.join(data_root, sub))
    return cfg


def check(path, data_root, work_dir):
    from ms_cls.plan import build_plan
    cfg = user_config(path, data_root)
    build_plan(cfg, work_dir)


def train_one_step(path, data_root, work_dir, batch):
    """One epoch of a few steps of ``path``: the config really trains. The head (and the batch
    augments) are given the demo's classes, as a user fine-tuning on it would."""
    from ms_cls.engine.trainer import train
    cfg = user_config(path, data_root)
    classes = len(os.listdir(os.path.join(data_root, 'train')))
    cfg.model.head['num_classes'] = classes
    augments = (cfg.model.get('train_cfg') or {}).get('augments')
    for augment in augments if isinstance(augments, list) else [augments] if augments else []:
        if 'num_classes' in augment:
            augment['num_classes'] = classes
    cfg.merge_from_dict({'runner.max_epochs': 1, 'data.samples_per_gpu': batch,
                         'data.workers_per_gpu': 1, 'log_config.interval': 1})
    return train(cfg, work_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', help="mmcls's configs folder (mmcls/.mim/configs)")
    parser.add_argument('folders', nargs='+', help='sub-folders to check, e.g. resnet')
    parser.add_argument('--data', help='a CustomDataset root with train/ val/ test/ '
                        '(default: the demo set, made in a temp folder)')
    parser.add_argument('--verbose', action='store_true', help='print every file')
    parser.add_argument('--train-first', action='store_true', help='also train the first file '
                        'of each folder for one short epoch (224-384 px: minutes on a CPU)')
    parser.add_argument('--batch', type=int, default=2, help='batch size of --train-first')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data
        if data_root is None:
            from ms_cls.data.demo import make_demo_data
            data_root = os.path.join(tmp, 'demo')
            make_demo_data(data_root, size=32, per_class={'train': 1, 'val': 1, 'test': 1})
        passed, stops = 0, collections.Counter()
        total = 0
        start = time.perf_counter()
        for folder in args.folders:
            names = sorted(f for f in os.listdir(os.path.join(args.configs, folder))
                           if f.endswith('.py'))
            for name in names:
                total += 1
                path = os.path.join(args.configs, folder, name)
                try:
                    check(path, data_root, os.path.join(tmp, 'work', name))
                    passed += 1
                    line = 'ok'
                except UserError as err:
                    line = str(err).splitlines()[0]
                    stops[line[:160]] += 1
                except Exception as err:   # a crash is a bug to list, not a stop
                    line = f'CRASH {type(err).__name__}: {err}'.splitlines()[0]
                    stops[line[:160]] += 1
                if args.verbose or line != 'ok':
                    print(f'{folder}/{name}: {line}')
        print(f'\n{passed} of {total} pass the run plan ({time.perf_counter() - start:.1f} s)')
        for line, n in stops.most_common():
            print(f'{n:3d}  {line}')
        for folder in args.folders if args.train_first else ():
            name = min(f for f in os.listdir(os.path.join(args.configs, folder))
                       if f.endswith('.py'))
            start = time.perf_counter()
            summary = train_one_step(os.path.join(args.configs, folder, name), data_root,
                                     os.path.join(tmp, 'train', name), args.batch)
            print(f'trained {folder}/{name}: {summary} ({time.perf_counter() - start:.0f} s)')


if __name__ == '__main__':
    main()
