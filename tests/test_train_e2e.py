"""Real MindSpore training runs on the tiny demo set (graph mode, CPU)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from ms_cls.analysis.schedule import schedule_frame
from ms_cls.apis import inference_model, init_model
from ms_cls.config import Config
from ms_cls.data.datasets import CustomDataset
from ms_cls.engine.log import format_epoch
from ms_cls.engine.schedules import build_lr_schedule
from ms_cls.engine.trainer import train
from ms_cls.errors import ConfigError, ImageLoadError, TrainingDiverged
from ms_cls.checkpoint import read_checkpoint

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


def test_epoch_records_hold_what_the_epoch_lines_print(trained):
    _, work_dir, _ = trained
    lines, records = read_logs(work_dir)
    epochs = [r for r in records if r['mode'] == 'epoch']
    assert [r['epoch'] for r in epochs] == [1, 2]
    assert [format_epoch(r['time'] * 1000, r['step_time'] * 1000, r['loss_avg'])
            for r in epochs] == [l for l in lines if l.startswith('Epoch time:')]
    for r in epochs:
        assert r['step_time'] == pytest.approx(r['time'] / 5)      # 5 steps per epoch
        steps = [t for t in records if t['mode'] == 'train' and t['epoch'] == r['epoch']]
        assert r['loss_avg'] == pytest.approx(steps[-1]['loss_avg'])   # the last step's mean
        assert r['time'] > sum(t['time'] for t in steps)


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
    assert best['metrics']['accuracy_top-1'] == pytest.approx(summary['best_top1'])
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
    # epoch 0 trains normally (no validation: interval 2); at epoch 1 the lr jumps to 2e28, and
    # weight decay at that lr overflows float32 within two steps (at 2e10 the weights of a
    # 5-step epoch could stay finite, the loss with them, and the test depended on the draw)
    cfg = tiny_cfg(tiny_demo, **{'lr_config.gamma': 1e30, 'checkpoint_config.max_keep_ckpts': 3,
                                 'evaluation.interval': 2})
    with pytest.raises(TrainingDiverged, match='Training stopped: loss is (nan|inf) at epoch 1'):
        train(cfg, str(tmp_path))
    files = os.listdir(tmp_path)
    assert 'epoch_1.ckpt' in files and 'epoch_2.ckpt' not in files
    assert read_checkpoint(str(tmp_path / 'latest.ckpt'))[1]['epoch'] == 1
    lines, records = read_logs(str(tmp_path))
    assert any(l.startswith('ERROR: Training stopped: loss is') for l in lines)
    assert records[-1]['mode'] == 'error' and records[-1]['kind'] == 'diverged'
    assert records[-1]['epoch'] == 2 and f"at epoch 1, step {records[-1]['iter']} (lr" in \
        records[-1]['message']
    assert lines[-1] == f"ERROR: {records[-1]['message']}"
    assert not [r for r in records if r['mode'] == 'val']
    assert [r['epoch'] for r in records if r['mode'] == 'epoch'] == [1]


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


def test_a_data_mistake_stops_the_run_before_the_work_dir(tiny_demo, tmp_path):
    """A missing val folder is found once the config has passed, still before anything is
    written: no work dir, nothing in the current folder."""
    missing = tmp_path / 'nope' / 'val'
    res = run_script([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), DEMO_CONFIG,
                      '--cfg-options', f'data.train.data_prefix={tiny_demo}/train',
                      f'data.val.data_prefix={missing}'], cwd=str(tmp_path))
    assert res.returncode == 1
    assert res.stderr.startswith('ERROR: ') and str(missing) in res.stderr, res.stderr
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
    assert f"report: {os.path.join('wd', 'report.html')} (" in res.stdout  # by default
    assert os.path.isfile(tmp_path / 'wd' / 'report.html')
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


def truncate(path):
    blob = path.read_bytes()
    path.write_bytes(blob[:len(blob) * 6 // 10])


@pytest.fixture(scope='module')
def broken_run(tiny_demo, tmp_path_factory):
    """One epoch on a copy of the tiny demo with a truncated train and val image, a huge PNG
    (20000x10000, 24 kB), a GIF and a TIFF in train, and a notes file: the run must train on the
    rest. The test folder gets a GIF, a TIFF and a huge PNG too. -> (data, work dir, summary)."""
    from PIL import Image
    root = tmp_path_factory.mktemp('broken')
    data = root / 'data'
    shutil.copytree(tiny_demo, data)
    triangle = data / 'train' / '003.triangle'
    first, second, third = sorted(triangle.iterdir())[:3]
    truncate(first)
    for path, suffix in ((second, '.gif'), (third, '.tiff'), (data / 'test' / '000001.jpg', '.gif'),
                         (data / 'test' / '000002.jpg', '.tiff')):
        Image.open(path).save(path.with_suffix(suffix))
        path.unlink()
    for folder in (triangle, data / 'test'):
        Image.new('1', (20000, 10000)).save(folder / 'huge.png')
    (data / 'train' / 'notes.txt').write_text('where the images came from')
    truncate(sorted((data / 'val' / '001.circle').iterdir())[0])
    work_dir = root / 'wd'
    summary = train(tiny_cfg(str(data), **{'runner.max_epochs': 1}), str(work_dir))
    return data, work_dir, summary


def test_broken_images_are_skipped_listed_and_the_run_trains(broken_run):
    data, work_dir, summary = broken_run
    lines, _ = read_logs(str(work_dir))
    listing = work_dir / 'broken_images.txt'
    assert f"WARNING: 2 of 81 training images do not decode; skipped, listed in {listing}" in lines
    assert f"WARNING: 1 of 30 val images does not decode; skipped, listed in {listing}" in lines
    assert any(l.startswith(f"WARNING: data.train: 1 file(s) under {data}/train are not images "
                            "ms_cls reads and are left out (.txt 1)") for l in lines)
    assert any(l.startswith('decode check: 111 images in ') and ', 111 decoded, 0 unchanged' in l
               for l in lines)
    assert any(l.startswith('train: 79 images in 10 classes') and '; val: 29 images' in l
               for l in lines)
    broken = [line.split('\t') for line in listing.read_text().splitlines()]
    triangle, circle = data / 'train' / '003.triangle', data / 'val' / '001.circle'
    assert [path for path, _ in broken] == [str(sorted(triangle.glob('*.jpg'))[0]),
                                            str(triangle / 'huge.png'),
                                            str(sorted(circle.iterdir())[0])]
    assert broken[0][1].startswith('OSError: image file is truncated')
    assert broken[1][1].startswith('DecompressionBombError: 200,000,000 pixels, over the limit')
    assert summary['epochs'] == 1 and (work_dir / 'best.ckpt').is_file()
    assert (work_dir / 'decode_cache.json').is_file()


def test_skip_broken_false_stops_before_training_and_writes_nothing(broken_run, tmp_path):
    data, _, _ = broken_run
    triangle = data / 'train' / '003.triangle'
    with pytest.raises(ImageLoadError, match=(
            rf"(?s)^data\.train: 2 of 81 training images do not decode:\n"
            rf"  {sorted(triangle.glob('*.jpg'))[0]}: OSError: image file is truncated.*\n"
            rf"  {triangle / 'huge.png'}: DecompressionBombError: 200,000,000 pixels.*\n"
            rf"data\.val: 1 of 30 val images does not decode: .*001\.circle.* \(OSError.*\)\n"
            r"Replace or remove the broken images, or set data\.skip_broken=True")):
        train(tiny_cfg(str(data), **{'data.skip_broken': False}), str(tmp_path / 'wd'))
    assert not (tmp_path / 'wd').exists()


def test_predict_reads_gif_and_tiff_and_names_a_huge_image(broken_run, tmp_path):
    import pandas as pd
    from ms_cls.evaluation.submission import predict_submission
    data, work_dir, _ = broken_run
    config, ckpt = str(work_dir / 'resnet18_1xb64_demo-32px.py'), str(work_dir / 'best.ckpt')
    out = str(tmp_path / 'submission.csv')
    with pytest.raises(ImageLoadError, match=r'(?s)1 unreadable image.*huge\.png: Decompression'
                       r'BombError: 200,000,000 pixels, over the limit of 89,478,485'):
        predict_submission([config], [ckpt], out, img_dir=str(data / 'test'), batch_size=8)
    frame = predict_submission([config], [ckpt], out, img_dir=str(data / 'test'), batch_size=8,
                               skip_unreadable=True)
    assert len(frame) == 20 and {'000001.gif', '000002.tiff'} <= set(pd.read_csv(out).id)
    assert open(f'{out}.unreadable.txt').read().startswith('huge.png\tDecompressionBombError')


def test_scripts_test_skips_or_stops_on_a_broken_val_image(broken_run):
    """The run's own config and checkpoint: its val set has a truncated image."""
    data, work_dir, _ = broken_run
    victim = sorted((data / 'val' / '001.circle').iterdir())[0]
    args = [sys.executable, os.path.join(ROOT, 'scripts', 'test.py'),
            str(work_dir / 'resnet18_1xb64_demo-32px.py'), str(work_dir / 'best.ckpt')]
    res = run_script(args)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (f"WARNING: 1 of 30 val images does not decode; skipped, not scored: {victim} "
            "(OSError: image file is truncated") in res.stdout
    assert 'val: 29 images scored (1 broken left out), 10 classes' in res.stdout
    res = run_script(args + ['--cfg-options', 'data.skip_broken=False'])
    assert res.returncode == 1 and 'Traceback' not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith('ERROR')]
    assert len(errors) == 1 and errors[0].startswith(
        f"ERROR: data.val: 1 of 30 val images does not decode: {victim} (OSError: image file is "
        "truncated")
    assert errors[0].endswith('set data.skip_broken=True to leave them out (they are then listed).')


def test_a_file_changed_behind_the_cache_fails_mid_run_by_name(broken_run, tmp_path):
    """The cache trusts size and mtime: a file rewritten with both kept is not decoded again, so
    it fails mid-epoch, and the run still ends with its name, not a pipeline dump."""
    data, work_dir, _ = broken_run
    victim = sorted((data / 'train' / '005.cross').iterdir())[0]
    blob, stat = victim.read_bytes(), victim.stat()
    victim.write_bytes(b'not a jpeg'.ljust(len(blob), b'\0'))
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    cfg = tiny_cfg(str(data), **{'runner.max_epochs': 1,
                                 'data.decode_cache': str(work_dir / 'decode_cache.json')})
    try:
        with pytest.raises(ImageLoadError, match=rf'Cannot decode image {victim}: cannot identify'):
            train(cfg, str(tmp_path / 'wd'))
    finally:
        victim.write_bytes(blob)
        os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    lines, records = read_logs(str(tmp_path / 'wd'))
    assert any(l.startswith('decode check: 111 images') and ', 0 decoded, 111 unchanged' in l
               for l in lines)
    assert records[-1]['mode'] == 'error' and records[-1]['kind'] == 'image_load'
    assert records[-1]['message'].startswith(f'Cannot decode image {victim}')
    assert lines[-1] == f"ERROR: {records[-1]['message']}"


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
    # the log records the momentum each logged step ran with: the cyclic schedule's
    steps = next(r for r in records if r['mode'] == 'meta')['steps_per_epoch']
    schedule = schedule_frame(cfg, steps=steps)['momentum']
    logged = [r for r in records if r['mode'] == 'train']
    assert [r['momentum'] for r in logged] == pytest.approx(
        [schedule[(r['epoch'] - 1) * steps + r['iter'] - 1] for r in logged])
    assert len({round(r['momentum'], 6) for r in logged}) > 2
    params, meta = read_checkpoint(str(tmp_path / 'latest.ckpt'))
    assert meta['ema'] is True
    raw = params['raw.classifier.weight'].asnumpy()
    assert not np.allclose(params['classifier.weight'].asnumpy(), raw)
    assert 'raw.conv1.weight' in params and 'moments.conv1.weight' in params
