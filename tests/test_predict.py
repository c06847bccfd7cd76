"""Submission CSVs from a test folder: rows, formats, top-k, probs, unreadable files, the script."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ms_cls.errors import ConfigError
from ms_cls.errors import ImageLoadError, SubmissionError
from ms_cls.evaluation.submission import (check_against_folder, class_counts_text, image_ids,
                                          label_values, predict_folder, predict_submission,
                                          submission_frame, write_submission)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_files(trained):
    _, work_dir, _ = trained
    return (os.path.join(work_dir, 'resnet18_1xb64_demo-32px.py'),
            os.path.join(work_dir, 'best.ckpt'))


@pytest.fixture(scope='module')
def predicted(trained, tiny_demo):
    config, ckpt = run_files(trained)
    return predict_folder([config], [ckpt], f'{tiny_demo}/test', batch_size=8)


def test_csv_has_each_test_image_once_in_order_and_scores_like_the_probs(
        trained, tiny_demo, tmp_path, capsys):
    config, ckpt = run_files(trained)
    out, probs_out = str(tmp_path / 'new' / 'submission.csv'), str(tmp_path / 'probs.npy')
    test = f'{tiny_demo}/test'
    predict_submission([config], [ckpt], out, img_dir=test, batch_size=8, probs_out=probs_out)
    assert f'wrote {out}: 20 rows' in capsys.readouterr().out
    csv = pd.read_csv(out)
    assert list(csv.columns) == ['id', 'label']
    assert csv.id.tolist() == sorted(os.listdir(test))          # every file once, sorted
    probs = np.load(probs_out)
    assert probs.shape == (20, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    assert (probs.argmax(axis=1) == csv.label).all()
    assert open(f'{probs_out}.ids.txt').read().split() == csv.id.tolist()
    assert len(open(f'{probs_out}.classes.txt').read().split()) == 10
    assert not [f for f in os.listdir(tmp_path / 'new') if f != 'submission.csv']  # no temp left
    answers = pd.read_csv(f'{tiny_demo}/test_answers.csv')
    scored = csv.merge(answers, on='id', suffixes=('', '_true'), validate='1:1')
    from_csv = (scored.label == scored.label_true).mean()
    truth = answers.set_index('id').loc[csv.id, 'label'].to_numpy()
    assert from_csv == pytest.approx((probs.argmax(axis=1) == truth).mean())


def test_label_and_id_formats_and_ranked_topk_columns(predicted, tiny_demo):
    paths, probs, classes = predicted
    root, best = f'{tiny_demo}/test', probs.argmax(axis=1)
    index = submission_frame(paths, root, probs, classes)
    name = submission_frame(paths, root, probs, classes, label_format='name', id_format='stem')
    prefix = submission_frame(paths, root, probs, classes, label_format='prefix')
    assert index.label.tolist() == best.tolist()
    assert name.label.tolist() == [classes[i] for i in best]
    assert prefix.label.tolist() == [int(classes[i].split('.')[0]) for i in best]
    assert index.id[0] == '000000.jpg' and name.id[0] == '000000'
    top3 = submission_frame(paths, root, probs, classes, columns='image, category', topk=3)
    assert list(top3.columns) == ['image', 'category', 'category_1', 'category_2', 'category_3']
    assert (top3.category == top3.category_1).all()
    ranked = np.take_along_axis(probs, top3[['category_1', 'category_2', 'category_3']].to_numpy()
                                .astype(int), axis=1)
    assert (np.diff(ranked, axis=1) <= 0).all() and len(set(top3.iloc[0, 2:])) == 3
    with pytest.raises(ConfigError, match="class 'ak47' has no numeric prefix"):
        label_values(['001.ak47', 'ak47'], 'prefix')
    with pytest.raises(ConfigError, match='--topk 11'):
        submission_frame(paths, root, probs, classes, topk=11)
    with pytest.raises(ConfigError, match="--label-format 'label' is not known"):
        submission_frame(paths, root, probs, classes, label_format='label')
    with pytest.raises(ConfigError, match='--columns'):
        submission_frame(paths, root, probs, classes, columns='id')


def test_nested_duplicate_names_need_path_ids_and_fail_before_any_model(tmp_path, tiny_demo):
    src = sorted(os.listdir(f'{tiny_demo}/test'))[0]
    for sub in ('a', 'b/c'):
        os.makedirs(tmp_path / 'imgs' / sub)
        shutil.copy(f'{tiny_demo}/test/{src}', tmp_path / 'imgs' / sub / '0001.jpg')
    root = str(tmp_path / 'imgs')
    paths = [f'{root}/a/0001.jpg', f'{root}/b/c/0001.jpg']
    assert image_ids(paths, root, 'path') == ['a/0001.jpg', 'b/c/0001.jpg']
    with pytest.raises(ConfigError, match="repeat .* use --id-format 'path'"):
        image_ids(paths, root, 'name')
    with pytest.raises(ConfigError, match="'0001.jpg'"):   # no checkpoint needed to find out
        predict_submission(['no-config.py'], ['no.ckpt'], str(tmp_path / 's.csv'), img_dir=root)
    assert not os.path.exists(tmp_path / 's.csv')


def test_unreadable_images_are_all_named_and_nothing_is_written(trained, tiny_demo, tmp_path,
                                                                capsys):
    config, ckpt = run_files(trained)
    test = str(tmp_path / 'test')
    shutil.copytree(f'{tiny_demo}/test', test)
    (tmp_path / 'test' / 'x.jpg').write_bytes(b'not a jpeg')
    data = open(f'{test}/000001.jpg', 'rb').read()
    (tmp_path / 'test' / 'y.jpg').write_bytes(data[:len(data) // 2])   # header fine, pixels cut
    out = str(tmp_path / 'submission.csv')
    with pytest.raises(ImageLoadError, match='2 unreadable') as err:
        predict_submission([config], [ckpt], out, img_dir=test)
    assert 'x.jpg' in str(err.value) and 'y.jpg' in str(err.value)
    assert '--skip-unreadable' in str(err.value) and not os.path.exists(out)
    frame = predict_submission([config], [ckpt], out, img_dir=test, skip_unreadable=True)
    assert 'WARNING: 2 unreadable image(s) are NOT in' in capsys.readouterr().err
    assert len(frame) == 20 and pd.read_csv(out).id.tolist() == sorted(os.listdir(test))[:20]
    assert [line.split('\t')[0] for line in open(f'{out}.unreadable.txt')] == ['x.jpg', 'y.jpg']


def test_folder_guard_counts_and_summary(predicted, tiny_demo, tmp_path):
    paths, probs, classes = predicted
    root = f'{tiny_demo}/test'
    frame = submission_frame(paths, root, probs, classes, label_format='name')
    check_against_folder(frame, paths, root)
    with pytest.raises(SubmissionError, match="1 image.s. not predicted, e.g. .'000019.jpg'"):
        check_against_folder(frame[:-1], paths[:-1], root)
    write_submission(frame, str(tmp_path / 'a' / 'b.csv'))
    assert pd.read_csv(tmp_path / 'a' / 'b.csv').equals(pd.DataFrame(frame))
    text = class_counts_text([0, 0, 0, 1, 2], [f'c{i}' for i in range(30)], n=2)
    assert 'most predicted: c0 3, c1 1' not in text and 'counts: c0 3, c1 1, c2 1' in text
    assert 'never predicted (27): c3, c4 ...' in text
    many = class_counts_text(list(range(12)) + [5] * 4, [f'c{i}' for i in range(12)], n=3)
    assert 'most predicted: c5 5, c0 1, c1 1' in many and 'least predicted: c11 1,' in many
    assert f"{len(paths)} images" in class_counts_text(frame, classes)


def test_script_writes_the_csv_and_reports_bad_flags(trained, tiny_demo, tmp_path, predicted):
    config, ckpt = run_files(trained)
    out = str(tmp_path / 'submission.csv')
    cmd = [sys.executable, 'scripts/predict.py', config, ckpt, '--img-dir', f'{tiny_demo}/test',
           '--out', out, '--label-format', 'name', '--columns', 'image,category']
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f'wrote {out}: 20 rows' in done.stdout and 'classes predicted' in done.stdout
    csv = pd.read_csv(out)
    assert list(csv.columns) == ['image', 'category']
    assert csv.category.tolist() == [predicted[2][i] for i in predicted[1].argmax(axis=1)]
    bad = subprocess.run(cmd[:-4] + ['--label-format', 'label', '--out', str(tmp_path / 'b.csv')],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and bad.stderr.startswith('ERROR:')
    assert '--label-format' in bad.stderr
    assert not os.path.exists(tmp_path / 'b.csv')


def test_ensemble_of_one_checkpoint_twice_gives_the_same_labels(trained, tiny_demo, predicted):
    config, ckpt = run_files(trained)
    paths, probs, _ = predict_folder([config, config], [ckpt, ckpt], f'{tiny_demo}/test',
                                     weights=[1, 2])
    assert paths == predicted[0]
    assert (probs.argmax(axis=1) == predicted[1].argmax(axis=1)).all()
    np.testing.assert_allclose(probs, predicted[1], rtol=1e-5, atol=1e-6)
