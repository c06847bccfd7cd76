"""Downloading pretrained weights: a loopback HTTP server started by each test serves bytes the
test made, counts requests, and can be told to fail (404, a connection dropped half-way, wrong
bytes, a short body, a slow or silent reply)."""
import hashlib
import os
import subprocess
import sys
import threading
import time

import pytest

import ms_cls.weights.download as dl
from ms_cls.errors import ConfigError, DownloadFailed

from conftest import ROOT
from loopback import cache, server  # noqa: F401  (fixtures)

PAYLOAD = bytes(range(256)) * 1200          # 300 KB
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
NAME = f'weights-{DIGEST[:8]}.pth'


def fetch(url, **kwargs):
    lines = []
    return dl.download(url, log=lines.append, **kwargs), lines


def test_first_download_is_verified_recorded_and_logged(server, cache):
    path, lines = fetch(server.add(f'/models/{NAME}', PAYLOAD))
    assert path == str(cache / NAME)
    assert open(path, 'rb').read() == PAYLOAD
    assert open(path + '.sha256').read() == f'{DIGEST}  {NAME}\n'
    assert sorted(os.listdir(cache)) == [NAME, NAME + '.sha256']
    assert lines[0] == f'downloading {server.base}/models/{NAME} to {path}'
    assert f"matches the name's {DIGEST[:8]}" in lines[-1] and '0.3 MB' in lines[-1]
    assert server.requests == [(f'/models/{NAME}', None)]


def test_a_cached_file_makes_no_request(server):
    url = server.add(f'/{NAME}', PAYLOAD)
    path, _ = fetch(url)
    again, lines = fetch(url)
    assert again == path and lines == [] and len(server.requests) == 1


def test_a_download_cut_off_resumes_with_a_range_request(server, cache, monkeypatch):
    monkeypatch.setattr(dl, 'RETRY_DELAYS', ())
    url = server.add(f'/{NAME}', PAYLOAD)
    server.failures = ['drop']
    with pytest.raises(DownloadFailed, match='gave up after 1 attempts; 153600 bytes kept'):
        fetch(url)
    assert not (cache / NAME).exists() and (cache / (NAME + '.part')).stat().st_size == 153600
    path, lines = fetch(url)
    assert server.requests[-1] == (f'/{NAME}', 'bytes=153600-')
    assert open(path, 'rb').read() == PAYLOAD and '  resuming at byte 153600' in lines
    assert not (cache / (NAME + '.part')).exists()


def test_a_dropped_connection_is_retried_from_where_it_stopped(server):
    url = server.add(f'/{NAME}', PAYLOAD)
    server.failures = ['drop']
    path, lines = fetch(url)
    assert [rng for _, rng in server.requests] == [None, 'bytes=153600-']
    assert open(path, 'rb').read() == PAYLOAD
    assert any(line.startswith('  retrying in 0 s (ConnectionError: connection closed after '
                               '153600 of 307200 bytes') for line in lines)


def test_a_connection_dropping_every_time_fails_clearly(server, cache):
    url = server.add(f'/{NAME}', PAYLOAD)
    server.failures = ['drop'] * 3
    with pytest.raises(DownloadFailed) as err:
        fetch(url)
    message = str(err.value)
    assert len(server.requests) == 3 and '\n' not in message
    assert message.startswith(f'Cannot download {url}: ConnectionError: connection closed')
    assert f'curl -L -o {cache / NAME} {url}' in message and DIGEST[:8] in message


def test_a_server_ignoring_ranges_starts_over(server, cache):
    url = server.add(f'/{NAME}', PAYLOAD)
    server.ranges = False
    cache.mkdir(parents=True)
    (cache / (NAME + '.part')).write_bytes(b'x' * 1000)
    path, lines = fetch(url)
    assert open(path, 'rb').read() == PAYLOAD and '  the server ignores ranges: starting over' in lines


def test_a_complete_part_answered_416_is_kept(server, cache):
    url = server.add(f'/{NAME}', PAYLOAD)
    cache.mkdir(parents=True)
    (cache / (NAME + '.part')).write_bytes(PAYLOAD)
    path, _ = fetch(url)
    assert open(path, 'rb').read() == PAYLOAD
    assert server.requests == [(f'/{NAME}', f'bytes={len(PAYLOAD)}-')]


def test_a_resumed_file_failing_the_hash_is_fetched_again_from_the_start(server, cache):
    url = server.add(f'/{NAME}', PAYLOAD)
    cache.mkdir(parents=True)
    (cache / (NAME + '.part')).write_bytes(PAYLOAD[::-1][:1000])
    path, lines = fetch(url)
    assert [rng for _, rng in server.requests] == ['bytes=1000-', None]
    assert open(path, 'rb').read() == PAYLOAD and 'downloading it again from the start' in lines[2]


def test_an_unwritable_cache_is_one_clear_line(server, tmp_path, monkeypatch):
    (tmp_path / 'file').write_text('')
    monkeypatch.setenv(dl.HOME_VAR, str(tmp_path / 'file' / 'home'))
    with pytest.raises(DownloadFailed, match=r'cannot create the cache folder \(Not a directory\); '
                                             r'set MS_CLS_HOME to a writable folder'):
        fetch(server.add(f'/{NAME}', PAYLOAD))


def test_a_wrong_hash_deletes_the_file_and_names_both_hashes(server, cache):
    url = server.add(f'/{NAME}', PAYLOAD)
    server.failures = ['wrong']
    with pytest.raises(DownloadFailed) as err:
        fetch(url)
    wrong = hashlib.sha256(PAYLOAD[::-1]).hexdigest()
    assert f'{url}: SHA-256 mismatch: expected {DIGEST[:8]}... (the file name\'s), got {wrong}' \
        in str(err.value)
    assert os.listdir(cache) == []


def test_a_length_mismatch_is_caught_without_a_hash_in_the_name(server, cache):
    url = server.add('/plain.pth', PAYLOAD)
    server.failures, server.ranges = ['short'] * 3, False
    with pytest.raises(DownloadFailed, match='connection closed after 307200 of 307300 bytes'):
        fetch(url)
    assert not (cache / 'plain.pth').exists()
    path, lines = fetch(url)
    assert open(path, 'rb').read() == PAYLOAD and '307200 bytes as announced' in lines[-1]
    assert len(server.requests) == 4


def test_404_is_one_clear_line_without_retries(server, cache):
    url = f'{server.base}/missing-{DIGEST[:8]}.pth'
    with pytest.raises(DownloadFailed) as err:
        fetch(url)
    assert str(err.value).startswith(f'Cannot download {url}: HTTP 404 Not Found. The cache '
                                     f'expects the file at {cache}/missing-{DIGEST[:8]}.pth')
    assert len(server.requests) == 1 and os.listdir(cache) == []


def test_a_refused_connection_is_retried_then_reported(monkeypatch):
    import socket
    with socket.socket() as s:          # a port nothing listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadFailed, match=r'ConnectionRefusedError.*gave up after 3 attempts'):
        fetch(f'http://127.0.0.1:{port}/{NAME}')


def test_a_silent_server_times_out(server, monkeypatch):
    monkeypatch.setenv(dl.TIMEOUT_VAR, '0.3')
    monkeypatch.setattr(dl, 'RETRY_DELAYS', ())
    server.failures = ['hang']
    with pytest.raises(DownloadFailed, match=rf'no reply for 0.3 s \({dl.TIMEOUT_VAR}\)'):
        fetch(server.add(f'/{NAME}', PAYLOAD))
    monkeypatch.setenv(dl.TIMEOUT_VAR, 'soon')
    with pytest.raises(ConfigError, match=f"{dl.TIMEOUT_VAR}='soon': expected seconds > 0"):
        fetch(server.add(f'/{NAME}', PAYLOAD))


def test_offline_uses_the_cache_and_names_the_missing_file(server, cache, monkeypatch):
    url = server.add(f'/{NAME}', PAYLOAD)
    path, _ = fetch(url)
    monkeypatch.setenv(dl.OFFLINE_VAR, '1')
    assert fetch(url)[0] == path
    with pytest.raises(DownloadFailed, match=rf'MS_CLS_OFFLINE=1 and the file is not in the '
                                             rf'cache. The cache expects the file at {cache}/other.pth'):
        fetch(server.add('/other.pth', PAYLOAD))
    assert len(server.requests) == 1


def test_the_mirror_serves_known_hosts(server, monkeypatch):
    server.add(f'/mirror/models/{NAME}', PAYLOAD)
    monkeypatch.setenv(dl.MIRROR_VAR, server.base + '/mirror/')
    path, _ = fetch(f'https://download.pytorch.org/models/{NAME}')
    assert open(path, 'rb').read() == PAYLOAD
    assert dl.resolve_url('torchvision://resnet50') == \
        server.base + '/mirror/models/resnet50-0676ba61.pth'
    assert dl.resolve_url('https://example.org/a.pth') == 'https://example.org/a.pth'
    monkeypatch.setenv(dl.MIRROR_VAR, '127.0.0.1:8000')
    with pytest.raises(ConfigError, match="MS_CLS_MIRROR='127.0.0.1:8000': expected http"):
        dl.resolve_url('mindcv://resnet50')


def test_the_proxy_variables_are_honoured(server, monkeypatch):
    server.add(f'/models/{NAME}', PAYLOAD)
    monkeypatch.setenv('http_proxy', server.base)
    monkeypatch.setenv('no_proxy', '')
    path, _ = fetch(f'http://weights.example/models/{NAME}')
    assert open(path, 'rb').read() == PAYLOAD


@pytest.mark.parametrize('damage', ['altered', 'cut short'])
def test_a_cached_file_changed_later_is_downloaded_again(server, monkeypatch, damage):
    url = server.add(f'/{NAME}', PAYLOAD)
    path, _ = fetch(url)
    with open(path, 'r+b') as f:
        f.write(b'!') if damage == 'altered' else f.truncate(1000)
    monkeypatch.setenv(dl.OFFLINE_VAR, '1')
    with pytest.raises(DownloadFailed, match='no longer matches the SHA-256 recorded'):
        fetch(url)
    monkeypatch.delenv(dl.OFFLINE_VAR)
    again, lines = fetch(url)
    assert lines[0].startswith(f'warning: {path}: the cached file no longer matches')
    assert open(again, 'rb').read() == PAYLOAD and len(server.requests) == 2


def test_a_file_put_in_the_cache_by_hand_is_checked_and_recorded(server, cache):
    url = server.add(f'/{NAME}', PAYLOAD)
    cache.mkdir(parents=True)
    (cache / NAME).write_bytes(PAYLOAD[::-1])
    with pytest.raises(DownloadFailed, match=f'not the {DIGEST[:8]}... its name promises'):
        fetch(url)
    (cache / NAME).write_bytes(PAYLOAD)
    path, _ = fetch(url)
    assert open(path + '.sha256').read().split()[0] == DIGEST and server.requests == []


WORKER = """
import sys
from ms_cls.weights.download import download
from ms_cls.errors import UserError
try:
    download(sys.argv[1], rank=int(sys.argv[2]))
except UserError as err:
    print('ERROR:', err)
"""


def test_two_ranks_download_once(server, tmp_path):
    url = server.add(f'/{NAME}', PAYLOAD)
    server.delay = 1.0
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, '-c', WORKER, url, str(rank)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (1, 0)]
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert server.full_gets(f'/{NAME}') == 1 and len(server.requests) == 1
    assert 'rank 1: waiting for rank 0 to download' in outputs[0]
    assert 'ERROR' not in outputs[0] + outputs[1] and 'downloaded' in outputs[1]


def test_the_other_ranks_stop_with_rank_0s_reason(server, cache, monkeypatch):
    monkeypatch.setenv('MS_ROLE', 'MS_WORKER')
    monkeypatch.setenv('MS_WORKER_NUM', '2')
    url = f'{server.base}/missing.pth'
    with pytest.raises(DownloadFailed):
        fetch(url)
    start = time.monotonic()
    with pytest.raises(DownloadFailed, match=r'^rank 0 failed, so rank 1 stops too: Cannot '
                                             r'download .*HTTP 404'):
        fetch(url, rank=1)
    assert time.monotonic() - start < 1 and os.listdir(cache) == ['missing.pth.failed']
    monkeypatch.setattr(dl, 'WAIT_STALL', 0.2)
    with pytest.raises(DownloadFailed, match=r'rank 2 waited 0.2 s for rank 0 to download it'):
        fetch(f'{server.base}/never.pth', rank=2)


def test_local_rank_comes_from_msrun():
    worker = {'MS_ROLE': 'MS_WORKER', 'MS_WORKER_NUM': '2'}
    assert dl.local_rank({}) == 0 and dl.local_rank({'DEVICE_ID': '3'}) == 0
    assert dl.local_rank(dict(worker, DEVICE_ID='1', RANK_ID='5')) == 1
    assert dl.local_rank(dict(worker, RANK_ID='1')) == 1
    assert dl.local_rank(dict(worker, MS_ROLE='MS_SCHED')) == -1


def test_names_resolve_to_published_urls():
    assert dl.resolve_url('torchvision://resnet50') == \
        'https://download.pytorch.org/models/resnet50-0676ba61.pth'
    assert dl.resolve_url('mindcv://swin_tiny') == \
        'https://download.mindspore.cn/toolkits/mindcv/swin/swin_tiny-0ff2f96d.ckpt'
    for table in dl.NAMED.values():
        for url in table.values():
            assert url.startswith('https://') and dl.hash_prefix(dl.file_name(url))
    with pytest.raises(ConfigError, match=r"torchvision has no weights named 'resnet05'\. Did "
                                          r"you mean 'resnet50'\? Known: resnet18, resnet34"):
        dl.resolve_url('torchvision://resnet05')
    assert dl.is_remote('mindcv://resnet50') and not dl.is_remote('work_dirs/latest.ckpt')
    assert dl.hash_prefix('resnet50_8xb32_in1k_20210831-ea4938fc.pth') == 'ea4938fc'
    assert dl.hash_prefix('swin_tiny-72b3c5e6-910v2.ckpt') is None


def test_a_part_locked_by_another_process_is_waited_for(server, cache):
    fcntl = pytest.importorskip('fcntl')
    url = server.add(f'/{NAME}', PAYLOAD)
    cache.mkdir(parents=True)
    with open(cache / (NAME + '.part'), 'ab') as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        result = {}
        waiter = threading.Thread(target=lambda: result.update(zip(('path', 'lines'), fetch(url))))
        waiter.start()
        time.sleep(0.3)
        (cache / (NAME + '.sha256')).write_text(f'{DIGEST}  {NAME}\n')
        (cache / NAME).write_bytes(PAYLOAD)
        waiter.join(10)
    assert result['path'] == str(cache / NAME) and server.requests == []
    assert result['lines'][0] == f'another process is downloading {url}'
