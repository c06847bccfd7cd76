"""Image datasets as (path, label) lists plus class names, in mmcls's CustomDataset modes.

* folder mode: ``data_prefix/<class>/**/<image>``; sorted sub-folders are the classes.
* ann-file mode: lines ``relative/path.jpg <int label>``, paths relative to ``data_prefix``.
* unlabelled (``with_label=False``): every image under ``data_prefix``, flat or nested, label -1.

Images are decoded with Pillow into RGB uint8 arrays (any mode: L, P, RGBA, CMYK, 16-bit), so the
MindSpore vision ops that follow always see HWC RGB uint8. A GIF or multi-page TIFF gives its first
frame. Files under a data folder with other extensions are kept in ``other_files`` and reported
(:func:`other_files_warning`), never dropped without a word.
"""
import os
import re
import warnings
from collections import Counter

import numpy as np
from PIL import Image, ImageOps

from ..errors import ConfigError, ImageLoadError

#: Raster formats Pillow decodes without outside programs (this build's plugins only); video,
#: vector, scientific and stub formats that Pillow also registers are left out.
IMG_EXTENSIONS = tuple(ext for ext in (
    '.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.apng', '.bmp', '.dib', '.ppm', '.pgm', '.pbm',
    '.pnm', '.tif', '.tiff', '.webp', '.gif', '.tga', '.jp2', '.j2k', '.avif', '.qoi')
    if Image.registered_extensions().get(ext) in Image.OPEN)

#: Pillow's decompression-bomb limit as shipped; ``data.max_image_pixels`` replaces it for a run.
PILLOW_MAX_PIXELS = Image.MAX_IMAGE_PIXELS
# ms_cls refuses an image over the limit itself, naming the file (check_pixels); Pillow's warning
# for the same image would not name it.
warnings.filterwarnings('ignore', category=Image.DecompressionBombWarning)


def image_load_error(report):
    """The ImageLoadError message inside a MindSpore dataset error report, or None."""
    marker = f'{ImageLoadError.__name__}: Cannot decode image '
    for line in report.splitlines():
        if marker in line:
            return line[line.index(marker) + len(ImageLoadError.__name__) + 2:].strip()
    return None


def set_max_image_pixels(limit):
    """Apply ``data.max_image_pixels`` (an int, or None for no limit) to this process: Pillow
    reads the limit from a module global, in every thread."""
    Image.MAX_IMAGE_PIXELS = limit


def bomb_message(size_or_pixels):
    """Why an image over the pixel limit is refused and how to allow it."""
    pixels = size_or_pixels
    shape = ''
    if isinstance(size_or_pixels, tuple):
        pixels = size_or_pixels[0] * size_or_pixels[1]
        shape = f'{size_or_pixels[0]}x{size_or_pixels[1]} = '
    return (f"{shape}{pixels:,} pixels, over the limit of {Image.MAX_IMAGE_PIXELS:,} "
            "(Pillow's decompression-bomb guard); shrink the file, or raise data.max_image_pixels "
            "(None: no limit) to use it")


def check_pixels(size):
    """Refuse an image above the limit before its pixels are decoded (Pillow itself only warns
    up to twice the limit, without naming the file)."""
    if Image.MAX_IMAGE_PIXELS is not None and size[0] * size[1] > Image.MAX_IMAGE_PIXELS:
        raise Image.DecompressionBombError(bomb_message(size))


def decode(path):
    """``path`` as HWC RGB uint8 with EXIF orientation applied as mmcv does; raises the
    decoder's error (an image over the pixel limit: DecompressionBombError with the count)."""
    try:
        img = Image.open(path)
    except Image.DecompressionBombError as err:   # over twice the limit: refused at open
        found = re.search(r'\((\d+) pixels\)', str(err))
        raise Image.DecompressionBombError(bomb_message(int(found.group(1))) if found
                                           else str(err)) from None
    with img:
        check_pixels(img.size)
        return to_rgb_array(ImageOps.exif_transpose(img))


def load_rgb(path):
    """:func:`decode`, with any failure as one ImageLoadError naming the file."""
    try:
        return decode(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageLoadError(f"Cannot decode image {path}: {err}. Replace or remove the file "
                             "and start again.") from None


def decode_error(path):
    """Why ``path`` does not decode, or None: every pixel is decoded, as training will, so
    truncated or corrupt image data is found, not only a bad header."""
    try:
        decode(path)
    except Exception as err:  # noqa: BLE001 - any decoder failure means a broken file
        return f'{type(err).__name__}: {err}'.replace('\n', ' ')
    return None


def class_number(name):
    """The number of a Caltech-style class name ('001.ak47', '001_ak47' -> 1), or None."""
    match = re.match(r'(\d+)(?:[._\- ]|$)', name)
    return int(match.group(1)) if match else None


def to_rgb_array(img):
    """Any Pillow image -> HWC RGB uint8. 16/32-bit greyscale is scaled, not clipped."""
    if img.mode in ('I;16', 'I;16B', 'I;16L', 'I', 'F'):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith('I;16') or arr.max() > 255 else 255.0
        if img.mode == 'F' and arr.max() <= 1.0:
            peak = 1.0
        arr = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if img.mode == 'P' and 'transparency' in img.info:
        img = img.convert('RGBA')
    if img.mode != 'RGB':
        img = img.convert('RGB')
    return np.asarray(img, dtype=np.uint8)


def is_image_file(name, extensions=IMG_EXTENSIONS):
    return name.lower().endswith(tuple(extensions)) and not os.path.basename(name).startswith('.')


def list_images(root, extensions=IMG_EXTENSIONS, others=None, hidden=False):
    """Relative paths of all images under ``root`` (recursive), sorted for a stable order.
    ``others``: a list that receives the paths of the other files found, hidden ones
    (``.DS_Store``, ``._x.jpg``) too with ``hidden=True``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        for name in filenames:
            if is_image_file(name, extensions):
                found.append(os.path.relpath(os.path.join(dirpath, name), root))
            elif others is not None and (hidden or not name.startswith('.')):
                others.append(os.path.join(dirpath, name))
    return sorted(found)


def _kind(path):
    name = os.path.basename(path)
    return 'hidden' if name.startswith('.') else os.path.splitext(name)[1].lower() \
        or '(no extension)'


def _most(item):
    return -item[1], item[0]


def other_files_warning(other_files, root, where, extensions=IMG_EXTENSIONS):
    """One line on the files under ``root`` that are not read as images, or None."""
    if not other_files:
        return None
    kinds = Counter(_kind(p) for p in other_files)
    counts = ', '.join(f'{kind} {n}' for kind, n in sorted(kinds.items(), key=_most))
    example = min(other_files, key=lambda p: (_kind(p) == 'hidden', p))
    return (f"{where}: {len(other_files)} file(s) under {root} are not images ms_cls reads and "
            f"are left out ({counts}), e.g. {example}; read are "
            f"{', '.join(extensions)}. Convert or remove them.")


def read_classes(classes, where):
    """``classes`` as a list/tuple of names or a path to a txt file with one name per line."""
    if classes is None:
        return None
    if isinstance(classes, str):
        if not os.path.isfile(classes):
            raise ConfigError(f"{where}: classes file not found: {classes}")
        with open(classes, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
    elif isinstance(classes, (list, tuple)):
        names = [str(c) for c in classes]
    else:
        raise ConfigError(f"{where}: classes must be a list of names or a txt file path, "
                          f"got {classes!r}.")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{where}: duplicate class names {dup}.")
    return names


def check_file_client(file_client_args, where):
    """mmcls's ``file_client_args``: ms_cls reads local files, so only the disk backend."""
    if file_client_args is None or file_client_args == {'backend': 'disk'}:
        return
    raise ConfigError(f"{where}.file_client_args = {file_client_args!r}: ms_cls reads local "
                      "files only; copy or mount the data on this machine and set "
                      "file_client_args=dict(backend='disk') or leave it out.")


class CustomDataset:
    """A labelled (or unlabelled) image set; ``samples`` is a list of (abs_path, label).

    ``classes``: names in label order. When omitted, folder mode takes the sorted sub-folder names
    and ann-file mode numbers the labels '0'..'N-1'.
    ``pipeline`` is kept here and turned into MindSpore ops by ``ms_cls.data.builder``.
    ``extensions``: the file endings read, case-insensitive (mmcls's meaning; the default is
    Pillow's raster formats, a superset of mmcls's list). ``test_mode`` is mmcls's mark and
    means nothing for a folder of images. ``file_client_args``: local files only, so None or
    ``dict(backend='disk')``.
    """

    #: the samples are image files (the decode check reads them); False for array-backed sets
    from_files = True

    def __init__(self, data_prefix, pipeline=(), classes=None, ann_file=None, with_label=True,
                 extensions=IMG_EXTENSIONS, test_mode=False, file_client_args=None,
                 where='data'):
        self.where = where
        check_file_client(file_client_args, where)
        self.data_prefix = data_prefix
        self.pipeline = list(pipeline or [])
        self.test_mode = test_mode
        self.with_label = with_label
        if not (isinstance(extensions, (list, tuple))
                and all(isinstance(e, str) for e in extensions)):
            raise ConfigError(f"{where}.extensions = {extensions!r}: give a tuple of file "
                              "endings such as ('.jpg', '.png').")
        self.extensions = tuple(e.lower() for e in extensions)
        self.other_files = []   # files under data_prefix not read as images (folder modes)
        if not data_prefix or not os.path.isdir(data_prefix):
            raise ConfigError(f"{where}.data_prefix: folder not found: {data_prefix!r}. "
                              "Point it at your images (or run scripts/make_demo_data.py for "
                              "the demo).")
        names = read_classes(classes, where)
        if not with_label:
            self.classes = names
            self.samples = [(os.path.join(data_prefix, p), -1) for p in self._list(data_prefix)]
        elif ann_file:
            self.samples, self.classes = self._from_ann_file(ann_file, names)
        else:
            self.samples, self.classes = self._from_folders(names)
        if not self.samples:
            raise ConfigError(f"{where}: no images ({', '.join(self.extensions)}) found under "
                              f"{data_prefix}.")

    def _list(self, folder):
        return list_images(folder, self.extensions, self.other_files)

    def other_files_warning(self):
        """One line on the files under ``data_prefix`` left out as not images, or None."""
        return other_files_warning(self.other_files, self.data_prefix, self.where,
                                   self.extensions)

    def _from_folders(self, names):
        root = self.data_prefix
        folders = sorted(d for d in os.listdir(root)
                         if os.path.isdir(os.path.join(root, d)) and not d.startswith('.'))
        self.other_files += [os.path.join(root, f) for f in sorted(os.listdir(root))
                             if os.path.isfile(os.path.join(root, f)) and not f.startswith('.')]
        if not folders:
            loose = list_images(root, self.extensions)
            hint = (f" It holds {len(loose)} images directly: for an unlabelled test folder set "
                    "with_label=False." if loose else '')
            raise ConfigError(f"{self.where}: {root} has no class sub-folders "
                              f"(expected {root}/<class name>/<image>).{hint}")
        classes = names or folders
        unknown = [d for d in folders if d not in classes]
        if unknown:
            raise ConfigError(f"{self.where}: folders {unknown[:10]} in {root} are not among the "
                              f"{len(classes)} classes {_preview(classes)}.")
        samples, empty = [], []
        for folder in folders:
            images = self._list(os.path.join(root, folder))
            if not images:
                empty.append(folder)
            label = classes.index(folder)
            samples += [(os.path.join(root, folder, img), label) for img in images]
        if empty:
            raise ConfigError(f"{self.where}: class folders without images in {root}: "
                              f"{empty[:10]}{' ...' if len(empty) > 10 else ''}. "
                              "Remove them or add images.")
        return samples, classes

    def _from_ann_file(self, ann_file, names):
        if not os.path.isfile(ann_file):
            raise ConfigError(f"{self.where}.ann_file: file not found: {ann_file}")
        samples = []
        with open(ann_file, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.strip().rsplit(maxsplit=1)
                if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                    raise ConfigError(f"{ann_file}, line {lineno}: expected "
                                      f"'relative/path.jpg <int label>', got {line.strip()!r}.")
                samples.append((os.path.join(self.data_prefix, parts[0]), int(parts[1])))
        if not samples:
            raise ConfigError(f"{self.where}.ann_file {ann_file} has no entries.")
        top = max(label for _, label in samples)
        classes = names or [str(i) for i in range(top + 1)]
        bad = [(p, l) for p, l in samples if not 0 <= l < len(classes)]
        if bad:
            raise ConfigError(f"{ann_file}: label {bad[0][1]} of {bad[0][0]} is outside 0.."
                              f"{len(classes) - 1} ({len(classes)} classes).")
        missing = [p for p, _ in samples if not os.path.isfile(p)]
        if missing:
            raise ConfigError(f"{ann_file}: {len(missing)} listed images do not exist under "
                              f"{self.data_prefix}, e.g. {missing[:3]}.")
        return samples, classes

    def __len__(self):
        return len(self.samples)

    @property
    def labels(self):
        return np.array([label for _, label in self.samples], dtype=np.int32)

    def relabel(self, train_classes):
        """Map this split's labels onto the training classes by name (val/test after train)."""
        if self.classes is None or not self.with_label:
            self.classes = list(train_classes)
            return
        present = sorted({self.classes[label] for _, label in self.samples})
        unknown = [c for c in present if c not in train_classes]
        if unknown:
            raise ConfigError(f"{self.where}: classes {unknown[:10]} are not among the "
                              f"{len(train_classes)} training classes {_preview(train_classes)}.")
        index = {name: i for i, name in enumerate(train_classes)}
        self.samples = [(p, index[self.classes[label]]) for p, label in self.samples]
        self.classes = list(train_classes)

    def drop(self, broken):
        """Leave the ``broken`` [(path, reason)] images out. A class left without any image is an
        ImageLoadError naming its files: training or scoring without the class would change the
        task without a word."""
        gone = {path for path, _ in broken}
        kept = [sample for sample in self.samples if sample[0] not in gone]
        had = {label for _, label in self.samples}
        lost = sorted(had - {label for _, label in kept}) if kept else sorted(had)
        if lost:
            subject = (f"class(es) {_preview([self.classes[label] for label in lost])}"
                       if self.with_label else 'this folder')
            files = [(path, reason) for path, reason in broken
                     if path in {p for p, label in self.samples if label in lost}]
            raise ImageLoadError(
                f"{self.where}: no image of {subject} under {self.data_prefix} decodes:"
                f"{broken_listing(files)}\nReplace them" + (", or remove the class (its folder "
                                                             "or its ann-file lines)."
                                                             if self.with_label else '.'))
        self.samples = kept

    def image_files(self):
        """The files the decode check reads: every sample's."""
        return [path for path, _ in self.samples] if self.from_files else []

    def label_of(self, index):
        """The label of sample ``index``, read without decoding its image."""
        return self.samples[index][1]

    def load_image(self, index):
        """The decoded image of sample ``index`` (HWC RGB uint8): the loader calls this in its
        parallel workers and reads labels itself, so decoding is not one serial stage."""
        return self.read(self.samples[index][0])

    def read(self, path):
        """The image of one sample path as HWC RGB uint8."""
        return load_rgb(path)

    def __getitem__(self, index):
        return self.load_image(index), np.array(self.samples[index][1], dtype=np.int32)


class ConcatDataset(CustomDataset):
    """mmcls's ``ConcatDataset``: several built datasets as one split (e.g. the training set
    plus pseudo-labelled test images). Labels are mapped by class name onto the first dataset's
    classes; the first's pipeline and folder stand for the whole (``data.builder`` has checked
    that the pipelines agree)."""

    def __init__(self, datasets, where='data'):
        first = datasets[0]
        self.where = where
        self.data_prefix = first.data_prefix
        self.pipeline = first.pipeline
        self.test_mode = first.test_mode
        self.with_label = True
        self.extensions = first.extensions
        self.other_files = [f for d in datasets for f in d.other_files]
        self.classes = list(first.classes)
        self.parts = list(datasets)
        for i, part in enumerate(datasets):
            if not part.with_label:
                raise ConfigError(f"{where}.datasets[{i}] is unlabelled (with_label=False); a "
                                  "training set needs labels (pseudo-labels: an ann file).")
            part.relabel(self.classes)
        self.samples = [sample for part in datasets for sample in part.samples]
        self.owner = {path: part for part in datasets for path, _ in part.samples}

    def image_files(self):
        return [path for path, _ in self.samples if self.owner[path].from_files]

    def read(self, path):
        return self.owner[path].read(path)


def broken_listing(broken, n=10):
    """[(path, reason)] to follow a colon: inline for one file, one line each (at most ``n``)
    for more."""
    if len(broken) == 1:
        return f" {broken[0][0]} ({broken[0][1]})"
    more = f"\n  ... and {len(broken) - n} more" if len(broken) > n else ''
    return ''.join(f"\n  {path}: {reason}" for path, reason in broken[:n]) + more


def _preview(names, n=5):
    return '[' + ', '.join(names[:n]) + (', ...' if len(names) > n else '') + ']'
