"""The run and sweep reports: their content, then the pages in headless Chromium."""
import html
import os
import re
import shutil
import tempfile

import pytest

from ms_cls.analysis.eda import analyse
from ms_cls.analysis.report import REPORT_FILE, RESULTS_FILE, run_report, sweep_report
from ms_cls.data.demo import CLASS_NAMES
from ms_cls.engine.log import TOP1, load_json_log
from ms_cls.analysis.runs import find_log
from ms_cls.evaluation.results import read_results

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
#: set to a folder to keep the screenshots (they are in the test's tmp dir otherwise)
SHOT_DIR = os.environ.get('MS_CLS_SCREENSHOTS')


def best_top1(work_dir):
    return float(load_json_log(find_log(work_dir)[0]).val[TOP1].max())


@pytest.fixture(scope='module')
def pages(demo_run, trained, shapes_demo, tmp_path_factory):
    """The demo run's report (with the EDA of its data) and the sweep page of it and the
    suite's tiny run."""
    out = tmp_path_factory.mktemp('pages')
    analyse(shapes_demo, str(out / 'eda'), log=None)
    run = run_report(demo_run[1], eda=str(out / 'eda'), log=lambda *_: None)
    sweep = sweep_report([demo_run[1], trained[1]], str(out / 'sweep.html'))
    return run, sweep


def rows(page, table_id):
    table = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return re.findall(r'<tr>(.*?)</tr>', table, re.S)


def test_run_report_has_every_part(pages, demo_run):
    path = pages[0]
    _, work_dir, _ = demo_run
    assert path == os.path.join(work_dir, REPORT_FILE)
    assert os.path.isfile(os.path.join(work_dir, RESULTS_FILE))  # the evaluation is kept
    page = open(path, encoding='utf-8').read()
    assert 'src="http' not in page and '<link' not in page and '<script' not in page
    shown = re.search(r'<b id="best-top1">([\d.]+)</b>', page).group(1)
    assert shown == f"{best_top1(work_dir):.3f}"
    classes = rows(page, 'class-table')
    assert len(classes) == len(CLASS_NAMES)
    recalls = [float(re.findall(r'<td class="num">([\d.]+)</td>', r)[2]) for r in classes]
    assert recalls == sorted(recalls)                    # worst recall first
    changed = page[page.index('id="settings"'):page.index('<h2>Curves')]
    assert 'runner.max_epochs' in changed and 'data.train.data_prefix' in changed
    assert 'model.head.num_classes' in changed            # set by the demo config, not a base
    assert 0 < len(rows(page, 'pairs')) <= 20
    for alt in ('training curves', 'confusion matrix', 'class_counts.png'):
        assert f'<img alt="{alt}"' in page
    assert 'momentum' in load_json_log(find_log(work_dir)[0]).keys()   # one of the curves
    rows_ = read_results(os.path.join(work_dir, RESULTS_FILE)).rows
    mistakes = int((rows_['pred_label'] != rows_['gt_label']).sum())
    assert mistakes > 0
    gallery = page[page.index('Most confident mistakes'):]
    assert gallery.count('<figure>') == min(12, mistakes)
    assert 'id="eda-splits"' in page


def test_a_log_without_momentum_records_gets_the_schedule_curve(pages, demo_run, tmp_path):
    """Logs written before train records held momentum: the report draws the config's."""
    import json
    work = tmp_path / 'old_run'
    shutil.copytree(demo_run[1], work, ignore=shutil.ignore_patterns('*.ckpt', '*.mindir'))
    log_path = find_log(str(work))[0]
    records = [json.loads(line) for line in open(log_path, encoding='utf-8')]
    with open(log_path, 'w', encoding='utf-8') as f:
        f.writelines(json.dumps({k: v for k, v in r.items() if k != 'momentum'}) + '\n'
                     for r in records)
    page = open(run_report(str(work), cams=False, log=lambda *_: None), encoding='utf-8').read()
    assert '<img alt="momentum"' in page and '<img alt="training curves"' in page
    assert '<img alt="momentum"' not in open(pages[0], encoding='utf-8').read()


def test_sweep_report_ranks_the_runs_and_names_what_differs(pages, demo_run, trained):
    page = open(pages[1], encoding='utf-8').read()
    runs = rows(page, 'runs')
    assert len(runs) == 2
    best = max(best_top1(demo_run[1]), best_top1(trained[1]))
    assert re.search(r'<b id="best-top1">([\d.]+)</b>', page).group(1) == f"{best:.3f}"
    assert os.path.basename(demo_run[1]) in runs[0]       # ranked: the better run first
    differing = html.unescape(page[page.index('id="differing"'):])
    assert 'optimizer.type' in differing and "'AdamW'" in differing and "'SGD'" in differing
    assert 'data.train.data_prefix' in differing and 'model.backbone.depth' not in differing
    assert '<img alt="training curves, overlaid"' in page


def chromium():
    """A headless Chromium driven by Selenium, or pytest.skip saying what is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed: pip install -r requirements-test.txt")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.isfile(p)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: apt-get install -y chromium "
                    "chromium-driver (what .ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix='ms_cls-chromium-')
    # without the background-networking flags Chromium's own update and sync calls fail as
    # console errors on a machine without internet
    for arg in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update',
                '--disable-sync', f'--user-data-dir={profile}', '--window-size=1400,1000'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as err:   # selenium's WebDriverException and its causes
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"Chromium did not start ({type(err).__name__}: {str(err)[:300]})")
    return driver, profile


def open_page(driver, path, shot):
    driver.get('file://' + os.path.abspath(path))
    errors = [e for e in driver.get_log('browser') if e['level'] == 'SEVERE']
    widths = driver.execute_script(
        'return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)')
    height = driver.execute_script('return document.body.scrollHeight')
    driver.set_window_size(1400, min(height + 50, 12000))
    driver.save_screenshot(shot)
    if SHOT_DIR:
        os.makedirs(SHOT_DIR, exist_ok=True)
        shutil.copy(shot, SHOT_DIR)
    return errors, widths


def test_reports_in_chromium(pages, demo_run, tmp_path):
    from selenium.webdriver.common.by import By
    driver, profile = chromium()
    try:
        errors, widths = open_page(driver, pages[0], str(tmp_path / 'run_report.png'))
        assert errors == []
        images = open(pages[0], encoding='utf-8').read().count('<img ')
        assert len(widths) == images >= 10 and all(w > 0 for w in widths), widths
        shown = driver.find_element(By.ID, 'best-top1').text
        assert shown == f"{best_top1(demo_run[1]):.3f}"
        classes = driver.find_elements(By.CSS_SELECTOR, '#class-table tbody tr')
        assert len(classes) == len(CLASS_NAMES)
        errors, widths = open_page(driver, pages[1], str(tmp_path / 'sweep_report.png'))
        assert errors == [] and widths and all(w > 0 for w in widths)
        assert len(driver.find_elements(By.CSS_SELECTOR, '#runs tbody tr')) == 2
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    assert os.path.getsize(tmp_path / 'run_report.png') > 10000
