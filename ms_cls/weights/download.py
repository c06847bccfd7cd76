"""Pretrained weights fetched once, verified, and kept in a cache.

Users name weights by URL (mmcls's download.openmmlab.com links), ``torchvision://NAME`` or
``mindcv://NAME``; ``download`` puts the file in ``cache_dir()`` and returns its path.

- It is written to ``<name>.part`` and renamed when complete and verified, so a killed download
  never leaves a file that looks whole; the next call resumes the part (HTTP Range).
- It is verified against the SHA-256 prefix its name carries (torch hub's naming:
  ``resnet50-0676ba61.pth``), else against the length the server announced. Its full SHA-256 is
  then recorded in ``<name>.sha256`` (sha256sum's format) and checked at every later use: a
  cached file altered or cut short since is downloaded again, once, with a warning.
- A cached, verified file makes no request; with ``MS_CLS_OFFLINE=1`` nothing does.
- TLS is always verified: MindCV retries a failed https download over http and then without
  certificate checks. Proxies come from https_proxy/no_proxy (urllib's default opener keeps
  them), ``MS_CLS_MIRROR`` serves the known hosts from a mirror, ``MS_CLS_DOWNLOAD_TIMEOUT``
  bounds each connect and read, and dropped connections and 5xx replies are retried from the
  byte reached (torch hub has no timeout, no retry and no resume).
- Under msrun one process per machine downloads (local rank 0); the others wait for the
  verified file and stop with rank 0's reason when it failed (``<name>.failed``). A second
  process that finds the part locked (another run downloading the same file) waits too.
"""
import contextlib
import hashlib
import http.client
import os
import posixpath
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request

from .. import __version__
from ..distributed import ROLE, SCHEDULER, launched_by_msrun
from ..errors import ConfigError, DownloadFailed, did_you_mean
from ..fileio import DISK_ERRORS, write_text
from ..progress import progress

try:
    import fcntl
except ImportError:     # not POSIX: no lock, msrun's ranks still take turns
    fcntl = None

HOME_VAR = 'MS_CLS_HOME'
MIRROR_VAR = 'MS_CLS_MIRROR'
OFFLINE_VAR = 'MS_CLS_OFFLINE'
TIMEOUT_VAR = 'MS_CLS_DOWNLOAD_TIMEOUT'
DEFAULT_HOME = os.path.join('~', '.cache', 'ms_cls')
DEFAULT_TIMEOUT = 30.0

#: Seconds before each retry of a dropped connection, a timeout or a 5xx reply.
RETRY_DELAYS = (1.0, 4.0, 10.0)
#: A waiting rank checks for rank 0's file this often, and gives up when neither the file
#: nor its part has changed for WAIT_STALL seconds.
WAIT_POLL = 0.5
WAIT_STALL = 600.0
CHUNK = 1 << 20
USER_AGENT = f'ms_cls/{__version__}'

#: The hosts MS_CLS_MIRROR replaces (scheme and host; the path is kept).
KNOWN_HOSTS = ('download.openmmlab.com', 'download.pytorch.org', 'download.mindspore.cn')

_TV = 'https://download.pytorch.org/models/'
#: torchvision's names (its old ``model_urls`` keys, which mmcv's ``torchvision://`` reads):
#: the IMAGENET1K_V1 weights of torchvision.models' weight enums.
TORCHVISION_URLS = {
    'resnet18': _TV + 'resnet18-f37072fd.pth',
    'resnet34': _TV + 'resnet34-b627a593.pth',
    'resnet50': _TV + 'resnet50-0676ba61.pth',
    'resnet101': _TV + 'resnet101-63fe2227.pth',
    'resnet152': _TV + 'resnet152-394f9c45.pth',
    'resnext50_32x4d': _TV + 'resnext50_32x4d-7cdf4587.pth',
    'resnext101_32x8d': _TV + 'resnext101_32x8d-8ba56ff5.pth',
    'resnext101_64x4d': _TV + 'resnext101_64x4d-173b62eb.pth',
    'wide_resnet50_2': _TV + 'wide_resnet50_2-95faca4d.pth',
    'wide_resnet101_2': _TV + 'wide_resnet101_2-32ee1156.pth',
    'swin_t': _TV + 'swin_t-704ceda3.pth',
    'swin_s': _TV + 'swin_s-5e29d889.pth',
    'swin_b': _TV + 'swin_b-68c6b09e.pth',
}

_MINDCV = 'https://download.mindspore.cn/toolkits/mindcv/'
#: MindCV's ``create_model`` names (its ``default_cfgs`` URLs). MindCV publishes no Swin-S/B.
MINDCV_URLS = {
    'resnet18': _MINDCV + 'resnet/resnet18-1e65cd21.ckpt',
    'resnet34': _MINDCV + 'resnet/resnet34-f297d27e.ckpt',
    'resnet50': _MINDCV + 'resnet/resnet50-e0733ab8.ckpt',
    'resnet101': _MINDCV + 'resnet/resnet101-689c5e77.ckpt',
    'resnet152': _MINDCV + 'resnet/resnet152-beb689d8.ckpt',
    'resnext50_32x4d': _MINDCV + 'resnext/resnext50_32x4d-af8aba16.ckpt',
    'resnext101_32x4d': _MINDCV + 'resnext/resnext101_32x4d-3c1e9c51.ckpt',
    'resnext101_64x4d': _MINDCV + 'resnext/resnext101_64x4d-8929255b.ckpt',
    'resnext152_64x4d': _MINDCV + 'resnext/resnext152_64x4d-3aba275c.ckpt',
    'swin_tiny': _MINDCV + 'swin/swin_tiny-0ff2f96d.ckpt',
}

NAMED = {'torchvision://': TORCHVISION_URLS, 'mindcv://': MINDCV_URLS}
HASH_RE = re.compile(r'[0-9a-f]{6,64}')


def is_remote(ref):
    """Whether ``ref`` names weights to download (a URL or a torchvision/MindCV name)."""
    return isinstance(ref, str) and ref.startswith(('http://', 'https://', *NAMED))


def resolve_url(ref):
    """The URL of ``torchvision://NAME``, ``mindcv://NAME`` or an http(s) URL, with the
    MS_CLS_MIRROR setting applied."""
    for scheme, table in NAMED.items():
        if ref.startswith(scheme):
            name = ref[len(scheme):]
            if name not in table:
                raise ConfigError(f"{ref}: {scheme[:-3]} has no weights named '{name}'."
                                  f"{did_you_mean(name, table)} Known: {', '.join(table)}.")
            return mirrored(table[name])
    if ref.startswith(('http://', 'https://')):
        return mirrored(ref)
    raise ConfigError(f"{ref!r} is not a weights URL: give https://..., torchvision://NAME or "
                      "mindcv://NAME (or the path of a local file).")


def mirrored(url):
    """``url`` with the scheme and host of a known host replaced by MS_CLS_MIRROR's."""
    mirror = os.environ.get(MIRROR_VAR, '').strip()
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(mirror)
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise ConfigError(f"{MIRROR_VAR}={mirror!r}: expected http(s)://HOST[:PORT][/PATH], e.g. "
                          f"{MIRROR_VAR}=http://127.0.0.1:8000/mirror.")
    source = urllib.parse.urlsplit(url)
    if source.hostname not in KNOWN_HOSTS:
        return url
    return mirror.rstrip('/') + source.path + (f'?{source.query}' if source.query else '')


def cache_dir():
    """``$MS_CLS_HOME/checkpoints`` (MS_CLS_HOME defaults to ~/.cache/ms_cls)."""
    home = os.environ.get(HOME_VAR) or DEFAULT_HOME
    return os.path.join(os.path.expanduser(home), 'checkpoints')


def file_name(url):
    """The cache's name for ``url``: the last part of its path."""
    name = urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))
    if name in ('', '.', '..'):
        raise ConfigError(f"{url}: the URL names no file (its path must end in a file name, "
                          "e.g. .../resnet50-0676ba61.pth).")
    return name


def hash_prefix(name):
    """The SHA-256 prefix a file name carries (torch hub's rule: the hex after the last '-' of
    the name without its extension, 6+ digits), or None."""
    stem = os.path.splitext(name)[0]
    tail = stem.rpartition('-')[2] if '-' in stem else ''
    return tail if HASH_RE.fullmatch(tail) else None


def local_rank(environ=None):
    """This process's rank on its machine: msrun's DEVICE_ID for its workers, -1 for its
    scheduler (which waits like any rank but 0), else 0."""
    environ = os.environ if environ is None else environ
    if not launched_by_msrun(environ):
        return 0
    if environ.get(ROLE) == SCHEDULER:
        return -1
    try:
        return int(environ.get('DEVICE_ID', environ.get('RANK_ID', '0')))
    except ValueError:
        return 0


def offline():
    return os.environ.get(OFFLINE_VAR, '').strip().lower() not in ('', '0', 'false', 'no')


def download_timeout():
    value = os.environ.get(TIMEOUT_VAR, '').strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ConfigError(f"{TIMEOUT_VAR}={value!r}: expected seconds > 0 (e.g. 60).")
    return seconds


def download(ref, log=print, rank=None):
    """-> the local path of the verified file ``ref`` names, downloaded into ``cache_dir()``
    unless it is there already (see the module docstring). ``rank`` is this process's rank on
    its machine (default: from msrun's environment); only rank 0 downloads."""
    url = resolve_url(ref)
    path = os.path.join(cache_dir(), file_name(url))
    rank = local_rank() if rank is None else rank
    if _cached(url, path, log, main=rank == 0):
        return path
    if offline():
        raise _failed(url, path, f"{OFFLINE_VAR}=1 and the file is not in the cache")
    if rank != 0:
        return _wait(url, path, log, f"rank {rank}")
    return _download_main(url, path, log)


def _failed(url, path, why):
    """The one-line error: URL, reason, where the file goes and how to put it there."""
    prefix = hash_prefix(os.path.basename(path))
    check = f" (its SHA-256 must start with {prefix})" if prefix else ''
    host = urllib.parse.urlsplit(url).hostname
    mirror = (f", or set {MIRROR_VAR}=http(s)://HOST[/PATH] to fetch {host}'s files from a "
              "mirror" if host in KNOWN_HOSTS else '')
    return DownloadFailed(f"Cannot download {url}: {why}. The cache expects the file at {path}: "
                          f"put it there by hand with `curl -L -o {path} {url}`{check}{mirror}, "
                          "or use a proxy (https_proxy).")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


def _recorded(path):
    """The SHA-256 recorded beside ``path``, or None."""
    try:
        with open(path + '.sha256', encoding='ascii') as f:
            return f.read().split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def _record(path, digest):
    write_text(path + '.sha256', f'{digest}  {os.path.basename(path)}\n')


def _remove(*paths):
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _cached(url, path, log, main):
    """Whether ``path`` holds the verified file. A file put there by hand passes when its name's
    hash prefix matches (rank 0 records its SHA-256); a recorded file that changed since is
    removed by rank 0 (downloaded again) or waited for by the others."""
    if not os.path.isfile(path):
        return False
    digest, recorded = _sha256(path), _recorded(path)
    if recorded is None:
        prefix = hash_prefix(os.path.basename(path))
        if prefix and not digest.startswith(prefix):
            raise _failed(url, path, f"the file already in the cache has SHA-256 {digest}, not "
                                     f"the {prefix}... its name promises: delete it or replace it")
        if main:
            _record(path, digest)
            log(f"using {path} (found in the cache without a record; SHA-256 {digest[:16]}... "
                "recorded)")
        return True
    if digest == recorded:
        return True
    if not main:
        return False
    why = (f"the cached file no longer matches the SHA-256 recorded when it was downloaded "
           f"({recorded[:16]}..., now {digest[:16]}...): altered or cut short since")
    if offline():
        raise _failed(url, path, f"{why}, and {OFFLINE_VAR}=1 forbids downloading it again")
    log(f"warning: {path}: {why}; downloading it again")
    _remove(path, path + '.sha256')
    return False


def _download_main(url, path, log):
    marker = path + '.failed'
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _remove(marker)
    except OSError as err:
        raise _failed(url, path, f"cannot create the cache folder ({err.strerror or err}); set "
                                 f"{HOME_VAR} to a writable folder") from None
    try:
        with open(path + '.part', 'ab') as part:
            owner = _lock(part)
            if owner:
                digest, how = _fetch_verified(url, path, part, log)
                _record(path, digest)
                os.replace(part.name, path)
    except DownloadFailed as err:
        _give_up(path, err)
        raise
    except OSError as err:
        error = _failed(url, path, _disk_reason(path, err))
        _give_up(path, error)
        raise error from None
    if not owner:
        log(f"another process is downloading {url}")
        return _wait(url, path, log, 'this process')
    log(f"downloaded {os.path.basename(path)} ({os.path.getsize(path) / 2 ** 20:.1f} MB, "
        f"SHA-256 {digest[:16]}..., {how}) to {path}")
    return path


def _lock(part):
    """Take the part file for this process; False when another process holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(part.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _give_up(path, error):
    """Remove an empty part; under msrun, tell the waiting ranks why (they share this
    process's launcher as parent)."""
    with contextlib.suppress(OSError):
        if os.path.getsize(path + '.part') == 0:
            os.remove(path + '.part')
    if launched_by_msrun():
        with contextlib.suppress(OSError):
            write_text(path + '.failed', f'{os.getppid()}\t{error}\n')


def _failure(marker):
    """The reason rank 0 of this launch wrote in ``marker``, or None."""
    try:
        with open(marker, encoding='utf-8') as f:
            parent, _, reason = f.read().strip().partition('\t')
    except OSError:
        return None
    return reason if parent == str(os.getppid()) else None


def _disk_reason(path, err):
    folder = os.path.dirname(path)
    try:
        free = f"{shutil.disk_usage(folder).free / 2 ** 20:.1f} MB free in {folder}"
    except OSError:
        free = f"free space in {folder} unknown"
    return f"cannot write the cache: {err.strerror or err} ({free}); free space or set {HOME_VAR}"


def _fetch_verified(url, path, part, log):
    """Fill ``part`` with the file and check it: -> (its SHA-256, how it was verified). A
    resumed file that fails the hash is fetched once more from the start (its first bytes may
    come from another version of the file)."""
    resumed = _size(part) > 0
    total = _fetch(url, path, part, log)
    digest = _sha256(part.name)
    prefix = hash_prefix(os.path.basename(path))
    if prefix and resumed and not digest.startswith(prefix):
        log(f"  the resumed file's SHA-256 {digest[:16]}... does not start with {prefix}: "
            "downloading it again from the start")
        _restart(part)
        return _fetch_verified(url, path, part, log)
    if prefix:
        if not digest.startswith(prefix):
            os.remove(part.name)
            raise _failed(url, path, f"SHA-256 mismatch: expected {prefix}... (the file name's), "
                                     f"got {digest}; the download was deleted")
        return digest, f"matches the name's {prefix}"
    if total is None:
        return digest, "not verified: no hash in its name, no length from the server"
    return digest, f"{total} bytes as announced"


def _fetch(url, path, part, log):
    """Download into ``part``, resuming what it holds, retrying dropped connections, timeouts
    and 5xx replies: -> the size the server announced, or None."""
    opener = urllib.request.build_opener()     # keeps the proxy handler and TLS verification
    timeout = download_timeout()
    log(f"downloading {url} to {path}")
    why = ''
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
        if attempt:
            log(f"  retrying in {delay:g} s ({why})")
            time.sleep(delay)
        try:
            return _transfer(opener, url, part, timeout, log)
        except urllib.error.HTTPError as err:
            why = f"HTTP {err.code} {err.reason}"
            if err.code < 500 and err.code != 429:
                raise _failed(url, path, why) from None
        except (OSError, http.client.HTTPException) as err:
            if isinstance(err, OSError) and err.errno in DISK_ERRORS:
                raise _failed(url, path, _disk_reason(path, err)) from None
            why = _network_reason(err, timeout)
    kept = _size(part)
    kept = f"; {kept} bytes kept in {part.name} for the next try" if kept else ''
    raise _failed(url, path, f"{why} (gave up after {len(RETRY_DELAYS) + 1} attempts{kept})")


def _network_reason(err, timeout):
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, TimeoutError):
        return f"no reply for {timeout:g} s ({TIMEOUT_VAR})"
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def _size(f):
    f.flush()
    return os.fstat(f.fileno()).st_size


def _restart(f):
    f.flush()
    f.truncate(0)


def _content_range(value):
    """(first byte, total) of a Content-Range header ('bytes 10-99/100', 'bytes */100');
    None for what is missing."""
    match = re.fullmatch(r'bytes (?:(\d+)-\d+|\*)/(\d+|\*)', (value or '').strip())
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != '*' else None)


def _transfer(opener, url, part, timeout, log):
    """One request: append the rest of the file to ``part`` (all of it when the server ignores
    the range) -> the file's size as announced, or None. A reply cut short raises."""
    have = _size(part)
    request = urllib.request.Request(url, headers={'User-Agent': USER_AGENT})
    if have:
        request.add_header('Range', f'bytes={have}-')
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not have:
            raise
        total = _content_range(err.headers.get('Content-Range'))[1]
        err.close()
        if total == have:       # the part was complete already
            return total
        _restart(part)
        return _transfer(opener, url, part, timeout, log)
    with response:
        if have and response.status == 206:
            if _content_range(response.headers.get('Content-Range'))[0] != have:
                _restart(part)
                return _transfer(opener, url, part, timeout, log)
            log(f"  resuming at byte {have}")
        elif have:
            log("  the server ignores ranges: starting over")
            _restart(part)
            have = 0
        length = response.headers.get('Content-Length', '')
        total = have + int(length) if length.isdigit() else None
        with progress(total=total, initial=have, desc=os.path.basename(part.name[:-5]), unit='B',
                      unit_scale=True, unit_divisor=1024) as bar:
            for block in iter(lambda: response.read(CHUNK), b''):
                part.write(block)
                bar.update(len(block))
    size = _size(part)
    if total is not None and size != total:
        raise ConnectionError(f"connection closed after {size} of {total} bytes")
    return total


def _stamp(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _wait(url, path, log, who):
    """Wait for the process that downloads ``url`` (rank 0) to finish -> ``path``."""
    log(f"{who}: waiting for rank 0 to download {url}")
    marker, part = path + '.failed', path + '.part'
    checked = progress_seen = None
    last_change = time.monotonic()
    while True:
        stamp = _stamp(path)
        if stamp is not None and stamp != checked:
            checked = stamp
            if _recorded(path) == _sha256(path):
                return path
        reason = _failure(marker)
        if reason:
            raise DownloadFailed(f"rank 0 failed, so {who} stops too: {reason}")
        seen = (stamp, _stamp(part))
        if seen != progress_seen:
            progress_seen, last_change = seen, time.monotonic()
        elif time.monotonic() - last_change > WAIT_STALL:
            raise _failed(url, path, f"{who} waited {WAIT_STALL:g} s for rank 0 to download it "
                                     "and saw no progress (rank 0's log says why)")
        time.sleep(WAIT_POLL)
