"""The decode check before a run: a cold check (every image decoded) vs a warm one (the cache).

    python benchmarks/decode_scan.py [--images 30000] [--size 400 300] [--workers 8] [--dir DIR]

Draws ``--images`` JPEGs (quality 90, smooth content plus noise: about 40 kB each at 400x300, as
photos of that size are) into a temporary folder, deleted at the end (``--dir`` keeps them there
and reuses them on the next call). Then it times the decode check over them twice: without a
cache file (every image decoded, as a first run does) and with the file the first check saved
(what a second run over the same files pays: reading the cache and a stat per file). The images
were just written, so the OS page cache is warm both times: the cold figure is decoding, not disk.
"""
import argparse
import glob
import os
import shutil
import sys
import tempfile
import time
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ms_cls.data.builder import ScanSpec  # noqa: E402
from ms_cls.data.datasets import PILLOW_MAX_PIXELS  # noqa: E402
from ms_cls.data.scan import DecodeCheck  # noqa: E402

CLASSES = 250


def draw(job):
    """One JPEG: upscaled coarse colour noise (smooth areas and edges) plus fine noise."""
    index, root, (width, height) = job
    rng = np.random.default_rng(index)
    coarse = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    pixels = np.asarray(coarse.resize((width, height), Image.BICUBIC)).astype(np.int16)
    pixels += rng.integers(-12, 13, pixels.shape, dtype=np.int16)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
        os.path.join(root, f'{index % CLASSES:03d}', f'{index:06d}.jpg'), quality=90)


def draw_images(root, count, size):
    for c in range(CLASSES):
        os.makedirs(os.path.join(root, f'{c:03d}'), exist_ok=True)
    with Pool(os.cpu_count()) as pool:
        pool.map(draw, [(i, root, size) for i in range(count)], chunksize=200)


def timed_check(paths, cache_file, workers):
    """(seconds, DecodeCheck) of one check over ``paths`` with the cache at ``cache_file``."""
    start = time.perf_counter()
    check = DecodeCheck(ScanSpec(True, cache_file, PILLOW_MAX_PIXELS), workers=workers)
    broken = check.find_broken(paths)
    seconds = time.perf_counter() - start
    assert not broken, broken[:3]
    return seconds, check


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=30000)
    parser.add_argument('--size', type=int, nargs=2, default=(400, 300), metavar=('W', 'H'))
    parser.add_argument('--workers', type=int, default=8, help='decode threads (default 8)')
    parser.add_argument('--dir', help='keep the images here (reused when already drawn)')
    args = parser.parse_args()
    root = args.dir or tempfile.mkdtemp(prefix='decode_scan_')
    work = tempfile.mkdtemp(prefix='decode_scan_cache_')
    try:
        paths = sorted(glob.glob(os.path.join(root, '*', '*.jpg')))
        if len(paths) < args.images:
            start = time.perf_counter()
            draw_images(root, args.images, tuple(args.size))
            paths = sorted(glob.glob(os.path.join(root, '*', '*.jpg')))
            print(f"drew {len(paths)} JPEGs in {time.perf_counter() - start:.0f} s")
        paths = paths[:args.images]
        megabytes = sum(os.path.getsize(p) for p in paths) / 2 ** 20
        print(f"{len(paths)} JPEGs of {args.size[0]}x{args.size[1]}, {megabytes:.0f} MB, "
              f"{args.workers} threads, {os.cpu_count()} cores")
        cache_file = os.path.join(work, 'decode_cache.json')
        cold, check = timed_check(paths, cache_file, args.workers)
        start = time.perf_counter()
        check.save_cache()
        saved = time.perf_counter() - start
        warm, again = timed_check(paths, cache_file, args.workers)
        print(f"cold (no cache): {cold:.1f} s, {check.cache.decoded} decoded "
              f"({cold / len(paths) * 1e3:.2f} ms per image)")
        print(f"cache saved in {saved:.2f} s, {os.path.getsize(cache_file) / 2 ** 20:.1f} MB")
        print(f"warm (cached): {warm:.2f} s, {again.cache.decoded} decoded, "
              f"{again.cache.hits} from the cache; cold / warm = {cold / warm:.0f}x")
    finally:
        shutil.rmtree(work)
        if not args.dir:
            shutil.rmtree(root)


if __name__ == '__main__':
    main()
