"""The decode check: every image a run will decode is decoded once before the work starts.

A header check passes a truncated JPEG, which then fails mid-epoch (after the graph compile; after
a whole epoch when it is a val image, before any checkpoint). So training (train and val),
``scripts/test.py`` and ``scripts/predict.py`` decode every image first, in threads (Pillow
releases the GIL while decoding). Results are cached by (absolute path, size, mtime): a file
unchanged since its last check is not decoded again, so a second run over the same files costs a
``stat`` per file. Measured on 30,000 JPEGs of 400x300 on 2 busy cores
(``benchmarks/decode_scan.py``): 20-26 s without the cache, 0.2 s with it (2.2 MB of JSON).

Where the cache lives: ``data.decode_cache`` (a file) when set, else the work dir's
``decode_cache.json``: the one folder a run may write to, and the one a rerun of the same config
uses again (a cache kept in memory would not help the next run, which is where the 20 s go).
Training reads it before its checks and writes it with the work dir, never earlier;
``scripts/test.py`` and ``scripts/predict.py`` read the cache beside the checkpoint (the training
run's, so its val images cost nothing) and write only to ``data.decode_cache``: they write no
file they were not asked for. A file rewritten with the same size and mtime is trusted; training
still names it if it then fails mid-epoch.
"""
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from ..errors import ImageLoadError
from ..fileio import write_lines, write_text
from ..progress import progress
from .builder import scan_spec
from .datasets import broken_listing, decode_error, set_max_image_pixels

CACHE_FILE = 'decode_cache.json'
BROKEN_FILE = 'broken_images.txt'
CACHE_VERSION = 1


class DecodeCache:
    """Decode results by (absolute path, size, mtime_ns), read from and saved to ``path``.

    ``hits`` counts files answered from the cache, ``decoded`` the files decoded. Results found
    under another pixel limit (``data.max_image_pixels``) are not used; a damaged file costs a
    full check, never a wrong answer.
    """

    def __init__(self, path=None):
        self.path = path
        self.limit = Image.MAX_IMAGE_PIXELS
        self.hits = self.decoded = 0
        self.entries = self._read(path) if path and os.path.isfile(path) else {}

    def _read(self, path):
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
            if data['version'] != CACHE_VERSION or data['max_image_pixels'] != self.limit:
                return {}
            return {key: (int(size), int(mtime), reason)
                    for key, (size, mtime, reason) in data['files'].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def find_broken(self, paths, workers=8, cluster=None):
        """[(path, reason)] for the ``paths`` that do not decode, in their order.

        ``cluster`` (a data-parallel run): each process decodes its share of the files not in
        the cache, the broken ones are summed over all processes, and each process decodes
        those few again for their reasons; every process ends with every result (rank 0
        writes the cache)."""
        reasons, todo = {}, []
        for path in paths:
            try:
                stat = os.stat(path)
            except OSError as err:
                reasons[path] = f'{type(err).__name__}: {err}'
                continue
            key, stamp = os.path.abspath(path), (stat.st_size, stat.st_mtime_ns)
            entry = self.entries.get(key)
            if entry is not None and entry[:2] == stamp:
                reasons[path] = entry[2]
                self.hits += 1
            else:
                todo.append((path, key, stamp))
        if todo:
            found = _decode_all(todo, workers, cluster)
            for (path, key, stamp), reason in zip(todo, found):
                self.entries[key] = stamp + (reason,)
                reasons[path] = reason
            self.decoded += len(todo)
        return [(path, reasons[path]) for path in paths if reasons[path]]

    def store(self):
        write_text(self.path, json.dumps({
            'version': CACHE_VERSION, 'max_image_pixels': self.limit,
            'files': {key: list(entry) for key, entry in self.entries.items()}},
            separators=(',', ':')))


def _decode_all(todo, workers, cluster=None):
    """The decode error (or None) of each (path, key, stamp) in ``todo``; with a parallel
    ``cluster``, each process decodes its share and the broken ones are shared."""
    def decode(paths):
        if not paths:
            return []
        with ThreadPoolExecutor(max(1, min(workers, len(paths)))) as pool:
            return list(progress(pool.map(decode_error, paths), total=len(paths),
                                 desc='decode check'))

    paths = [path for path, _, _ in todo]
    if cluster is None or not cluster.parallel:
        return decode(paths)
    mine = cluster.shard(list(range(len(paths))))
    reasons = dict(zip(mine, decode([paths[i] for i in mine])))
    flags = np.zeros(len(paths))
    flags[[i for i, reason in reasons.items() if reason]] = 1
    broken = np.flatnonzero(cluster.all_sum(flags))
    theirs = [i for i in broken if i not in reasons]
    reasons.update(zip(theirs, decode([paths[i] for i in theirs])))
    return [reasons.get(i) for i in range(len(paths))]


def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _verb(broken):
    return 'does' if len(broken) == 1 else 'do'


def _broken_line(dataset, what, total, broken):
    """'data.val: 1 of 30 val images does not decode: path (reason)', or None."""
    if broken:
        return (f"{dataset.where}: {len(broken)} of {_count(total, f'{what} image')} "
                f"{_verb(broken)} not decode:{broken_listing(broken)}")
    return None


class DecodeCheck:
    """The decode check of one run, from a checked ``ScanSpec`` (``data.skip_broken``,
    ``data.decode_cache``, ``data.max_image_pixels``); the pixel limit applies to the process
    from here on. ``default_cache``: the cache file when ``data.decode_cache`` is not set;
    ``writable``: whether :meth:`save_cache` may write it."""

    def __init__(self, spec, default_cache=None, writable=True, workers=8, cluster=None):
        set_max_image_pixels(spec.max_pixels)
        self.spec = spec
        self.cluster = cluster
        self.workers = workers
        self.writable = writable or bool(spec.cache)
        self.cache = DecodeCache(spec.cache or default_cache)
        self.broken = []      # [(path, reason)] of every dataset checked, in order
        self.images = 0
        self.seconds = 0.0

    def find_broken(self, paths):
        start = time.time()
        broken = self.cache.find_broken(paths, self.workers, self.cluster)
        self.seconds += time.time() - start
        self.images += len(paths)
        self.broken += broken
        return broken

    def check(self, splits, listed_in=None):
        """Decode every image of the ``splits`` [(dataset, what)] (``what``: 'training', 'val',
        ...). Broken images are left out (``skip_broken``) or stop the run with one
        ImageLoadError naming those of every split. Returns the warnings to print: files under
        a folder that are not read as images, and the images left out. ``listed_in``: the file
        the list will be written to (None: the warning names the images)."""
        found = [(dataset, what, len(dataset), self.find_broken(dataset.image_files()))
                 for dataset, what in splits]
        failed = [line for line in (_broken_line(*item) for item in found) if line]
        if failed and not self.spec.skip_broken:
            text = '\n'.join(failed)
            raise ImageLoadError(text + ('\n' if '\n' in text else '. ') + "Replace or remove the "
                                 "broken images, or set data.skip_broken=True to leave them out "
                                 "(they are then listed).")
        warnings = [dataset.other_files_warning() for dataset, _ in splits]
        for dataset, what, total, broken in found:
            if broken:
                dataset.drop(broken)
                warnings.append(
                    f"{len(broken)} of {_count(total, f'{what} image')} "
                    f"{_verb(broken)} not decode; skipped, " + (
                        f"listed in {listed_in}" if listed_in else
                        f"not {'trained on' if what == 'training' else 'scored'}:"
                        + broken_listing(broken)))
        return [w for w in warnings if w]

    def summary(self):
        """One line: how long the check took and how much the cache saved."""
        return (f"decode check: {_count(self.images, 'image')} in {self.seconds:.1f} s, "
                f"{self.cache.decoded} decoded, {self.cache.hits} unchanged since the last check"
                f" (cache {self.cache.path})")

    def save_cache(self):
        if self.writable and self.cache.path:
            self.cache.store()

    def write(self, work_dir):
        """The run's files: ``broken_images.txt`` (path TAB reason; a stale one from an earlier
        run in the same folder removed) and the cache."""
        listing = os.path.join(work_dir, BROKEN_FILE)
        if self.broken:
            write_lines(listing, [f'{path}\t{reason}' for path, reason in self.broken])
        elif os.path.isfile(listing):
            os.remove(listing)
        self.save_cache()


def checkpoint_check(data_cfg, checkpoint, workers=8):
    """The decode check of ``scripts/test.py`` and ``scripts/predict.py``: the cache named by
    ``data.decode_cache`` (read and written), else the training run's beside ``checkpoint``
    (read only)."""
    return DecodeCheck(scan_spec(data_cfg),
                       os.path.join(os.path.dirname(os.path.abspath(checkpoint)), CACHE_FILE),
                       writable=False, workers=workers)
