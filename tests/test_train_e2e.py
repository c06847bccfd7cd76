"""Real MindSpore training runs on the tiny demo set (graph mode, CPU)."""
import json
import os
import subprocess
import sys

import pytest

from ms_cls.apis import inference_model, init_model
from ms_cls.config import Config
from ms_cls.data.datasets import CustomDataset
from ms_cls.engine.schedules import build_lr_schedule
from ms_cls.engine.trainer import train
from ms_cls.errors import ConfigError, TrainingDiverged
from ms_cls.models.weights import read_checkpoint

from conftest import DEMO_CONFIG, ROOT, tiny_cfg
from test_log_format import EPOCH_RE, STEP_RE, VAL_RE


def read_logs(work_dir):
    (text,) = [f for f in os.listdir(work_dir) if f.endswith('.log')]
    with open(os.path.join(work_dir, text)) as f:
        lines = f.read().splitlines()
    with open(os.path.join(work_dir, text + '.json')) as f:
        records = [json.loads(line) for line in f]
    return lines, records


def test_console_log_has_the_seed_shape(trained):
    _, work_dir, _ = trained
    lines, _ = read_logs(work_dir)
    steps = [l for l in lines if l.startswith('Epoch:[')]
    # 80 images / 16 = 5 steps per epoch; logged at steps 2, 4 and the last (5), twice
    assert len(steps) == 6 and all(STEP_RE.match(l) for l in steps), steps
    assert steps[0].startswith('Epoch:[  0/  2], step:[    2/    5]')
    assert steps[-1].startswith('Epoch:[  1/  2], step:[    5/    5]')
    epochs = [l for l in lines if l.startswith('Epoch time:')]
    vals = [l for l in lines if l.startswith('Epoch: [')]
    assert len(epochs) == 2 and all(EPOCH_RE.match(l) for l in epochs)
    assert len(vals) == 2 and all(VAL_RE.match(l) and 'Top5' in l for l in vals)
    i = lines.index(epochs[0])
    assert lines[i + 1] == '-' * 20 and lines[i + 2] == vals[0]


def test_json_log_records_the_lr_actually_applied(trained):
    cfg, work_dir, _ = trained
    _, records = read_logs(work_dir)
    train_recs = [r for r in records if r['mode'] == 'train']
    lrs = build_lr_schedule(cfg.lr_config, cfg.optimizer.lr, 2, 5)
    for r in train_recs:
        assert set(r) >= {'mode', 'epoch', 'iter', 'lr', 'loss', 'time'}
        assert r['lr'] == pytest.approx(float(lrs[(r['epoch'] - 1) * 5 + r['iter'] - 1]))
    assert [r['lr'] for r in train_recs[:2]] != [r['lr'] for r in train_recs[3:5]]
    vals = [r for r in records if r['mode'] == 'val']
    assert [r['epoch'] for r in vals] == [1, 2]
    assert all(0 <= r['accuracy_top-1'] <= r['accuracy_top-5'] <= 1 for r in vals)


def test_work_dir_holds_checkpoints_config_and_classes(trained, tiny_demo):
    _, work_dir, summary = trained
    files = set(os.listdir(work_dir))
    assert {'epoch_2.ckpt', 'latest.ckpt', 'best.ckpt', 'classes.txt',
            'resnet18_1xb64_demo-32px.py'} <= files
    assert 'epoch_1.ckpt' not in files            # max_keep_ckpts=1
    assert not [f for f in files if f.startswith('.tmp')]
    _, meta = read_checkpoint(os.path.join(work_dir, 'latest.ckpt'))
    assert meta['epoch'] == 2 and meta['classes'] == CustomDataset(f'{tiny_demo}/train').classes
    _, best = read_checkpoint(os.path.join(work_dir, 'best.ckpt'))
    assert best['epoch'] == summary['best_epoch']
    assert best['accuracy_top-1'] == pytest.approx(summary['best_top1'])
    dumped = Config.fromfile(os.path.join(work_dir, 'resnet18_1xb64_demo-32px.py'))
    assert dumped.runner.max_epochs == 2


def test_reloaded_best_checkpoint_reproduces_logged_top1(trained, tiny_demo):
    cfg, work_dir, summary = trained
    model = init_model(os.path.join(work_dir, 'resnet18_1xb64_demo-32px.py'),
                       os.path.join(work_dir, 'best.ckpt'))
    val = CustomDataset(f'{tiny_demo}/val')
    val.relabel(model.classes)
    correct = sum(inference_model(model, path)['pred_label'] == label for path, label in val.samples)
    assert correct / len(val) == pytest.approx(summary['best_top1'], abs=1e-6)
    result = inference_model(model, val.samples[0][0])
    assert result['pred_class'] == model.classes[result['pred_label']]
    assert 0 < result['pred_score'] <= 1


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_demo, tmp_path):
    # epoch 0 trains normally (no validation: interval 2); at epoch 1 the lr jumps to 1e10
    cfg = tiny_cfg(tiny_demo, **{'lr_config.gamma': 1e12, 'checkpoint_config.max_keep_ckpts': 3,
                                 'evaluation.interval': 2})
    with pytest.raises(TrainingDiverged, match='Training stopped: loss is (nan|inf) at epoch 1'):
        train(cfg, str(tmp_path))
    files = os.listdir(tmp_path)
    assert 'epoch_1.ckpt' in files and 'epoch_2.ckpt' not in files
    assert read_checkpoint(str(tmp_path / 'latest.ckpt'))[1]['epoch'] == 1
    lines, records = read_logs(str(tmp_path))
    assert any(l.startswith('Training stopped') for l in lines)
    assert records[-1]['mode'] == 'error'
    assert not [r for r in records if r['mode'] == 'val']


def run_script(args, cwd=ROOT):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_cli_reports_config_mistakes_without_traceback_or_leftovers(tmp_path):
    """A misspelt key fails before the data is read and before the work dir is made."""
    res = run_script([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), DEMO_CONFIG,
                      '--cfg-options', 'model.backbone.deepth=18'], cwd=str(tmp_path))
    assert res.returncode == 1
    assert "ERROR: Unknown key 'deepth'" in res.stderr and "Did you mean 'depth'" in res.stderr
    assert 'Traceback' not in res.stderr
    assert os.listdir(tmp_path) == []


def test_print_config_prints_a_loadable_merged_config(tmp_path):
    res = run_script([sys.executable, 'scripts/print_config.py', DEMO_CONFIG,
                      '--cfg-options', 'runner.max_epochs=7'])
    assert res.returncode == 0, res.stderr
    path = tmp_path / 'printed.py'
    path.write_text(res.stdout)
    assert Config.fromfile(str(path)).runner.max_epochs == 7


def test_run_train_sh_makes_demo_data_and_trains(tmp_path):
    """The README's main command, in a fresh folder, cut to one short epoch."""
    res = run_script(['bash', os.path.join(ROOT, 'scripts', 'run_train.sh'), '--work-dir', 'wd',
                      '--cfg-options', 'runner.max_epochs=1', 'log_config.interval=5'],
                     cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    assert os.path.isfile(tmp_path / 'data' / 'demo' / 'test_answers.csv')
    assert 'Epoch: [  1 /   1], Train Loss: [' in res.stdout
    assert os.path.isfile(tmp_path / 'wd' / 'best.ckpt')
    assert set(os.listdir(tmp_path)) == {'data', 'wd'}   # nothing else dumped into the cwd


def test_mixed_precision_on_cpu_uses_a_fixed_scale_the_optimizer_divides_out(trained, tiny_demo,
                                                                             tmp_path):
    """O2 on CPU: 'dynamic' becomes a fixed scale; the loss must track the fp32 run (a scale
    left in the gradients makes it explode to hundreds)."""
    _, fp32_dir, _ = trained
    train(tiny_cfg(tiny_demo, **{'amp_level': 'O2', 'runner.max_epochs': 1}), str(tmp_path))
    lines, records = read_logs(str(tmp_path))
    assert any(l.startswith('amp: O2 on CPU') and 'fixed loss scale 1024' in l for l in lines)
    fp16 = [r['loss'] for r in records if r['mode'] == 'train']
    fp32 = [r['loss'] for r in read_logs(fp32_dir)[1] if r['mode'] == 'train'][:len(fp16)]
    assert abs(fp16[0] - fp32[0]) < 0.05, (fp16, fp32)     # step 2: same data, same init
    assert max(fp16) < 10, fp16


def test_truncated_image_mid_run_is_named_not_a_pipeline_dump(tiny_demo, tmp_path):
    """A JPEG cut short passes the header check; decoding it must end the run with its name."""
    import shutil
    from ms_cls.errors import ImageLoadError
    data = tmp_path / 'data'
    shutil.copytree(tiny_demo, data)
    victim = sorted((data / 'train' / '003.triangle').iterdir())[0]
    blob = victim.read_bytes()
    victim.write_bytes(blob[:len(blob) * 6 // 10])
    cfg = tiny_cfg(str(data), **{'runner.max_epochs': 1})
    with pytest.raises(ImageLoadError, match=rf'Cannot decode image {victim}: image file is truncated'):
        train(cfg, str(tmp_path / 'wd'))


def test_missing_or_mistyped_sections_are_named(tmp_path, write):
    cfg = Config.fromfile(write('c.py', f"_base_ = '{DEMO_CONFIG}'\nlr_config = 'cosine'\n"))
    with pytest.raises(ConfigError, match=r"lr_config \(set in .*c\.py\) must be a dict"):
        train(cfg, str(tmp_path / 'wd'))
    cfg = Config.fromfile(write('m.py', "model = dict(type='ImageClassifier')\n"))
    with pytest.raises(ConfigError, match="'data' is missing from"):
        train(cfg, str(tmp_path / 'wd'))
    assert not (tmp_path / 'wd').exists()


def test_recipe_knobs_together_cyclic_momentum_clip_ema_mixup(tiny_demo, tmp_path):
    """One run with the issue-4 knobs: cyclic lr + momentum, grad clip, EMA and mixup/cutmix.
    It must train (finite, logged), and the checkpoint must carry the EMA and raw weights."""
    import numpy as np
    cfg = tiny_cfg(tiny_demo, **{
        'runner.max_epochs': 2,
        'momentum_config': dict(policy='cyclic', target_ratio=(0.85 / 0.95, 1),
                                cyclic_times=1, step_ratio_up=0.4),
        'optimizer.momentum': 0.95,
        'optimizer_config': dict(grad_clip=dict(max_norm=5.0)),
        'custom_hooks': [dict(type='EMAHook', momentum=0.2, warm_up=0)],
        'model.train_cfg': dict(augments=[dict(type='BatchMixup', alpha=0.8, prob=0.5),
                                          dict(type='BatchCutMix', alpha=1.0, prob=0.5)]),
    })
    cfg.lr_config = dict(policy='cyclic', target_ratio=(10, 1e-4), cyclic_times=1,
                         step_ratio_up=0.4)   # replaces the demo's step policy as a whole
    summary = train(cfg, str(tmp_path))
    lines, records = read_logs(str(tmp_path))
    assert any(l.startswith('EMA: momentum 0.2') for l in lines)
    losses = [r['loss'] for r in records if r['mode'] == 'train']
    assert losses and all(np.isfinite(losses))
    assert summary['best_epoch'] in (1, 2)
    params, meta = read_checkpoint(str(tmp_path / 'latest.ckpt'))
    assert meta['ema'] is True
    raw = params['raw.classifier.weight'].asnumpy()
    assert not np.allclose(params['classifier.weight'].asnumpy(), raw)
    assert 'raw.conv1.weight' in params and 'moments.conv1.weight' in params
