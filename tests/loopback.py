"""A loopback HTTP server for download tests: started by each test that asks for it (127.0.0.1,
a free port), it serves bytes the test made, counts requests, and can be told to fail (404, a
connection dropped half-way, wrong bytes, a short body, a slow or silent reply). ``cache`` points
MS_CLS_HOME into the test's tmp_path and clears the machine's download settings."""
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import ms_cls.weights.download as dl


class Files:
    """What the server serves and what it saw: ``requests`` holds (path, Range header) pairs;
    ``failures`` is consumed one per request ('404', 'drop', 'wrong', 'short', 'hang');
    ``delay`` slows every reply; ``ranges=False`` makes it ignore Range headers."""

    def __init__(self):
        self.files, self.requests, self.failures = {}, [], []
        self.delay, self.ranges, self.base = 0.0, True, ''

    def add(self, path, data):
        self.files[path] = data
        return self.base + path

    def full_gets(self, path):
        return sum(1 for p, rng in self.requests if p == path and rng is None)


def handler(state):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path    # absolute when asked as a proxy
            rng = self.headers.get('Range')
            state.requests.append((path, rng))
            failure = state.failures.pop(0) if state.failures else None
            time.sleep(state.delay + (3.0 if failure == 'hang' else 0.0))
            data = state.files.get(path)
            if data is None or failure == '404':
                self.send_error(404)
                return
            if failure == 'wrong':
                data = data[::-1]
            start = int(rng[len('bytes='):-1]) if rng and state.ranges else None
            if start is not None and start >= len(data):
                self.send_response(416)
                self.send_header('Content-Range', f'bytes */{len(data)}')
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            body = data[start or 0:]
            self.send_response(206 if start is not None else 200)
            if start is not None:
                self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
            self.send_header('Content-Length', str(len(body) + (100 if failure == 'short' else 0)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2] if failure == 'drop' else body)

    return Handler


@pytest.fixture
def server():
    state = Files()
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), handler(state))
    state.base = f'http://127.0.0.1:{httpd.server_port}'
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """MS_CLS_HOME in tmp_path, no settings from the machine, no retry delays."""
    monkeypatch.setenv(dl.HOME_VAR, str(tmp_path / 'home'))
    for var in (dl.MIRROR_VAR, dl.OFFLINE_VAR, dl.TIMEOUT_VAR, 'MS_ROLE', 'MS_WORKER_NUM',
                'http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('no_proxy', '127.0.0.1')
    monkeypatch.setattr(dl, 'RETRY_DELAYS', (0.0, 0.0))
    monkeypatch.setattr(dl, 'WAIT_POLL', 0.05)
    return tmp_path / 'home' / 'checkpoints'
