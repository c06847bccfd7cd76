"""mmcls's standard data set types, read from a local copy in its published layout.

* ``ImageNet`` and ``ImageNet21k``: a ``CustomDataset`` (class folders or an ann file). mmcls
  names ImageNet's classes with its built-in 1000; ms_cls does not carry that list: a folder
  split takes its folder names, and an ann file without ``classes`` numbers the labels, which are
  then indices into the training set's classes (mmcls's meaning: both index the same list).
* ``CIFAR10`` / ``CIFAR100``: the python pickles, unpickled by a loader that admits numpy
  arrays only; the images are kept as one uint8 array and served through ``read`` like files.
* ``CUB``: CUB-200-2011's ``images.txt``, ``image_class_labels.txt`` and ``train_test_split.txt``.
* ``StanfordCars``: the devkit's MATLAB annotation files (scipy reads them).

Nothing is downloaded: a missing folder or file is one line saying where the set is published
and what layout is expected.
"""
import hashlib
import os
import pickle

import numpy as np

from ..errors import ConfigError
from .datasets import CustomDataset, read_classes

CIFAR_URL = 'https://www.cs.toronto.edu/~kriz/cifar.html'
CUB_URL = 'https://www.vision.caltech.edu/datasets/cub_200_2011/'
CARS_URL = 'https://ai.stanford.edu/~jkrause/cars/car_dataset.html'


class _IndexedLabels:
    """Labels read as indices into the training classes when this split only numbered them
    (``numbered``): mmcls's ImageNet-style sets share one class list across splits."""

    numbered = False

    def relabel(self, train_classes):
        if not self.numbered:
            super().relabel(train_classes)
            return
        top = max(label for _, label in self.samples)
        if top >= len(train_classes):
            raise ConfigError(f"{self.where}: label {top} is outside the {len(train_classes)} "
                              "training classes; give this split the training set's classes.")
        self.classes = list(train_classes)


class ImageNet(_IndexedLabels, CustomDataset):
    """mmcls's ``ImageNet``: ``data_prefix/<wnid>/*.JPEG`` or an ann file of
    ``relative/path.JPEG <label>`` lines (see the module docstring for the class names)."""

    def __init__(self, data_prefix, pipeline=(), classes=None, ann_file=None, test_mode=False,
                 file_client_args=None, where='data'):
        super().__init__(data_prefix, pipeline, classes, ann_file, test_mode=test_mode,
                         file_client_args=file_client_args, where=where)
        self.numbered = bool(ann_file) and classes is None


class ImageNet21k(ImageNet):
    """mmcls's ``ImageNet21k``: ImageNet's layouts, every image under a class folder found
    (``recursion_subdir``, which mmcls 0.25 requires to be True). ``serialize_data`` packs
    mmcls's sample list for its torch workers; ms_cls's loader threads share one list, so it
    changes nothing here."""

    def __init__(self, data_prefix, pipeline=(), classes=None, ann_file=None,
                 serialize_data=True, multi_label=False, recursion_subdir=True, test_mode=False,
                 file_client_args=None, where='data'):
        if recursion_subdir is not True:
            raise ConfigError(f"{where}.recursion_subdir = {recursion_subdir!r}: mmcls 0.25 "
                              "always reads the images of sub-folders of a class folder too "
                              "(the option is deprecated); set it to True or leave it out.")
        if multi_label is not False:
            raise ConfigError(f"{where}.multi_label = {multi_label!r}: ImageNet21k is read "
                              "single-label (mmcls 0.25 does not implement multi_label); set it "
                              "to False or leave it out.")
        if not isinstance(serialize_data, bool):
            raise ConfigError(f"{where}.serialize_data = {serialize_data!r}: expected True or "
                              "False.")
        super().__init__(data_prefix, pipeline, classes, ann_file, test_mode, file_client_args,
                         where)


# ---------------------------------------------------------------- CIFAR

#: The globals a CIFAR pickle may name: numpy's array reconstruction, nothing else.
ARRAY_GLOBALS = {('numpy.core.multiarray', '_reconstruct'), ('numpy', 'ndarray'),
                 ('numpy', 'dtype')}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and numpy arrays; any other global is refused by name
    before anything is called (a pickle can otherwise run any function it names)."""

    def find_class(self, module, name):
        if (module, name) in ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR batch never "
                                     "holds (only numpy arrays are allowed)")


def _text(value):
    return value.decode('latin1') if isinstance(value, bytes) else value


def load_batch(path):
    """A CIFAR python batch as a dict with str keys (the files are Python 2 pickles, read with
    ``encoding='bytes'`` as the CIFAR page does); a pickle that asks for anything but numpy
    arrays is a ConfigError and runs nothing."""
    try:
        with open(path, 'rb') as f:
            entry = _ArrayUnpickler(f, encoding='bytes').load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"{path}: not a CIFAR python batch ({err}); replace it with the "
                          f"published file ({CIFAR_URL}).") from None
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: not a CIFAR python batch (it holds a "
                          f"{type(entry).__name__}, not a dict).")
    return {_text(key): value for key, value in entry.items()}


def _md5(path):
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _set_base(dataset, data_prefix, pipeline, test_mode, where):
    """The attributes every data set here shares with CustomDataset, for those built without
    its folder scan."""
    dataset.where = where
    dataset.data_prefix = data_prefix
    dataset.pipeline = list(pipeline or [])
    dataset.test_mode = test_mode
    dataset.with_label = True
    dataset.extensions = ()
    dataset.other_files = []


class CIFAR10(CustomDataset):
    """mmcls's ``CIFAR10``: ``data_prefix/cifar-10-batches-py/`` as published; the five data
    batches train, ``test_mode=True`` reads ``test_batch``; class names from the meta file
    (``classes`` renames them). Samples are ``<batch file>#<row>``: ``read`` returns that row
    as HWC RGB uint8, so the loader, ``drop`` and ``relabel`` treat it as any image; its pixels
    are checked when the batch is read (a uint8 row of 3x32x32), so the decode check has no
    file to decode. A file whose md5 is not mmcls's is read as it is and named in a warning."""

    base_folder = 'cifar-10-batches-py'
    archive = 'CIFAR-10 python version (cifar-10-python.tar.gz)'
    train_list = [('data_batch_1', 'c99cafc152244af753f735de768cd75f'),
                  ('data_batch_2', 'd4bba439e000b95fd0a9bffe97cbabec'),
                  ('data_batch_3', '54ebc095f3ab1f0389bbae665268c751'),
                  ('data_batch_4', '634d18415352ddfa80567beed471001a'),
                  ('data_batch_5', '482c414d41f54cd18b22e5b47cb7c3cb')]
    test_list = [('test_batch', '40351d587109b95175f43aff81a1287e')]
    meta = ('batches.meta', 'label_names', '5ff9c542aee3614f3951f8cda6e48888')
    label_key = 'labels'
    from_files = False

    def __init__(self, data_prefix, pipeline=(), classes=None, ann_file=None, test_mode=False,
                 where='data'):
        _set_base(self, data_prefix, pipeline, test_mode, where)
        if ann_file is not None:
            raise ConfigError(f"{where}.ann_file = {ann_file!r}: {type(self).__name__} reads its "
                              "batches from data_prefix (test_mode picks the test batch); "
                              "leave ann_file out.")
        folder = os.path.join(data_prefix or '', self.base_folder)
        files = self.test_list if test_mode else self.train_list
        wanted = [name for name, _ in self.train_list + self.test_list] + [self.meta[0]]
        missing = [n for n in wanted if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            raise ConfigError(
                f"{where}.data_prefix: {folder} lacks {', '.join(missing)}. ms_cls does not "
                f"download data sets: get the {self.archive} from {CIFAR_URL} and unpack it "
                f"into {data_prefix}, so that {folder}/ holds {', '.join(wanted)}.")
        meta_file, _, meta_md5 = self.meta
        self.mismatched = [n for n, md5 in files + [(meta_file, meta_md5)]
                           if _md5(os.path.join(folder, n)) != md5]
        self.classes = self._classes(os.path.join(folder, self.meta[0]), classes)
        images, self.samples = [], []
        for name, _ in files:
            rows, labels = self._read_batch(os.path.join(folder, name))
            images.append(rows)
            self.samples += [(f'{os.path.join(folder, name)}#{i}', label)
                             for i, label in enumerate(labels)]
        self.images = np.ascontiguousarray(np.concatenate(images).transpose(0, 2, 3, 1))
        self.row = {path: i for i, (path, _) in enumerate(self.samples)}

    def _classes(self, path, names):
        found = load_batch(path).get(self.meta[1])
        if not isinstance(found, list) or not found:
            raise ConfigError(f"{path}: no '{self.meta[1]}' list of class names; replace it "
                              f"with the published file ({CIFAR_URL}).")
        found = [_text(n) for n in found]
        names = read_classes(names, self.where)
        if names is not None and len(names) != len(found):
            raise ConfigError(f"{self.where}.classes: {len(names)} names for the {len(found)} "
                              f"classes of {path}; give {len(found)} or leave classes out.")
        return names or found

    def _read_batch(self, path):
        """(N, 3, 32, 32) uint8 rows and N labels, checked."""
        entry = load_batch(path)
        data, labels = entry.get('data'), entry.get(self.label_key)
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
                and data.shape[1] == 3 * 32 * 32):
            raise ConfigError(f"{path}: 'data' should be a uint8 array of N x 3072 (3x32x32 "
                              f"pixels a row), got {getattr(data, 'dtype', type(data).__name__)}"
                              f" {getattr(data, 'shape', '')}; replace it with the published "
                              f"file ({CIFAR_URL}).")
        if not isinstance(labels, list) or len(labels) != len(data):
            raise ConfigError(f"{path}: '{self.label_key}' should list one label for each of "
                              f"its {len(data)} rows.")
        bad = [label for label in labels if not 0 <= int(label) < len(self.classes)]
        if bad:
            raise ConfigError(f"{path}: label {bad[0]} is outside 0..{len(self.classes) - 1} "
                              f"({len(self.classes)} classes).")
        return data.reshape(-1, 3, 32, 32), [int(label) for label in labels]

    def read(self, path):
        return self.images[self.row[path]].copy()

    def other_files_warning(self):
        """The batches that are not the published files, or None (they are still read)."""
        if not self.mismatched:
            return None
        return (f"{self.where}: {', '.join(self.mismatched)} under "
                f"{os.path.join(self.data_prefix, self.base_folder)} differ from the published "
                f"{type(self).__name__} files (md5); read as they are.")


class CIFAR100(CIFAR10):
    """mmcls's ``CIFAR100``: ``data_prefix/cifar-100-python/{train,test,meta}``, fine labels."""

    base_folder = 'cifar-100-python'
    archive = 'CIFAR-100 python version (cifar-100-python.tar.gz)'
    train_list = [('train', '16019d7e3df5f24257cddd939b257f8d')]
    test_list = [('test', 'f0ef6b0ae62326f3e7ffdfab6717acfc')]
    meta = ('meta', 'fine_label_names', '7973b15100ade9c7d40fb424638fde48')
    label_key = 'fine_labels'


# ---------------------------------------------------------------- CUB, Stanford Cars

class _ListedImages(CustomDataset):
    """A set whose annotation files list (relative image path, label) pairs: the common part of
    ``CUB`` and ``StanfordCars`` (mmcls's BaseDataset keys: data_prefix, pipeline, classes,
    ann_file, test_mode)."""

    def _setup(self, data_prefix, pipeline, test_mode, where):
        _set_base(self, data_prefix, pipeline, test_mode, where)

    def _take(self, listed, names):
        """``samples`` and ``classes`` from [(relative path, label)], checked."""
        if not listed:
            raise ConfigError(f"{self.where}: no {'test' if self.test_mode else 'training'} "
                              f"images are listed for {type(self).__name__}.")
        self.samples = [(os.path.join(self.data_prefix, rel), label) for rel, label in listed]
        self.classes = names
        top = max(label for _, label in self.samples)
        low = min(label for _, label in self.samples)
        if low < 0 or top >= len(names):
            raise ConfigError(f"{self.where}: label {low if low < 0 else top} is outside the "
                              f"{len(names)} classes {names[:3]}...; check the annotation "
                              "files and classes.")
        missing = [p for p, _ in self.samples if not os.path.isfile(p)]
        if missing:
            raise ConfigError(f"{self.where}: {len(missing)} listed images do not exist under "
                              f"{self.data_prefix}, e.g. {missing[:3]}.")


def _id_column(path, cast, where):
    """``<image id> <value>`` lines -> [(id, value)], with the line of any malformed one named."""
    if not os.path.isfile(path):
        raise ConfigError(f"{where}: file not found: {path}. ms_cls does not download data "
                          f"sets: get CUB_200_2011 from {CUB_URL} and point the keys at its "
                          "images.txt, image_class_labels.txt, train_test_split.txt and images/.")
    rows = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                rows.append((parts[0], cast(parts[1])))
            except (IndexError, ValueError):
                raise ConfigError(f"{path}, line {lineno}: expected '<image id> <value>', got "
                                  f"{line.strip()!r}.") from None
    return rows


class CUB(_ListedImages):
    """mmcls's ``CUB`` (CUB-200-2011): ``ann_file`` (images.txt: ``<id> <path>``),
    ``image_class_labels_file`` (``<id> <label from 1>``), ``train_test_split_file``
    (``<id> 1`` for a training image, ``0`` for a test one); ``test_mode`` picks the test
    images. Classes: ``classes`` or the sorted folder names of ``data_prefix`` (images/), which
    are mmcls's names ('001.Black_footed_Albatross', ...)."""

    def __init__(self, data_prefix, ann_file, image_class_labels_file, train_test_split_file,
                 pipeline=(), classes=None, test_mode=False, where='data'):
        self._setup(data_prefix, pipeline, test_mode, where)
        paths = _id_column(ann_file, str, f'{where}.ann_file')
        labels = _id_column(image_class_labels_file, int, f'{where}.image_class_labels_file')
        splits = _id_column(train_test_split_file, int, f'{where}.train_test_split_file')
        if not [i for i, _ in paths] == [i for i, _ in labels] == [i for i, _ in splits]:
            raise ConfigError(f"{where}: {ann_file}, {image_class_labels_file} and "
                              f"{train_test_split_file} should list the same image ids in the "
                              f"same order ({len(paths)}, {len(labels)} and {len(splits)} "
                              "lines).")
        if not os.path.isdir(data_prefix or ''):
            raise ConfigError(f"{where}.data_prefix: folder not found: {data_prefix!r} (CUB's "
                              f"images/ folder, from {CUB_URL}).")
        names = read_classes(classes, where) or sorted(
            d for d in os.listdir(data_prefix)
            if os.path.isdir(os.path.join(data_prefix, d)) and not d.startswith('.'))
        self._take([(rel, label - 1) for (_, rel), (_, label), (_, train)
                    in zip(paths, labels, splits) if bool(train) != bool(test_mode)], names)


def _load_mat(path, where):
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ConfigError(f"{where}: reading Stanford Cars' .mat files needs scipy: "
                          "pip install scipy") from None
    try:
        return loadmat(path)
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(f"{path}: not a MATLAB file scipy reads ({err}).") from None


def _mat_text(value):
    """A MATLAB string cell as loadmat gives it (an array holding one str) -> str."""
    return str(np.asarray(value).ravel()[0])


class StanfordCars(_IndexedLabels, _ListedImages):
    """mmcls's ``StanfordCars``: ``data_prefix/{cars_train,cars_test,devkit}`` as published;
    ``test_mode`` (required, as in mmcls) picks cars_test with
    ``devkit/cars_test_annos_withlabels.mat``, else cars_train with
    ``devkit/cars_train_annos.mat``; ``ann_file`` replaces that .mat file. Each annotation's
    ``class`` (from 1) and ``fname`` are read. Classes: ``classes``, else ``class_names`` of
    ``devkit/cars_meta.mat`` (mmcls's 196 names come from it), else numbered names that index
    the training classes."""

    def __init__(self, data_prefix, test_mode=None, ann_file=None, pipeline=(), classes=None,
                 where='data'):
        if not isinstance(test_mode, bool):
            raise ConfigError(f"{where}.test_mode = {test_mode!r}: StanfordCars needs it set: "
                              "False reads cars_train, True reads cars_test.")
        split = 'cars_test' if test_mode else 'cars_train'
        devkit = os.path.join(data_prefix or '', 'devkit')
        ann_file = ann_file or os.path.join(devkit, 'cars_test_annos_withlabels.mat' if test_mode
                                            else 'cars_train_annos.mat')
        self._setup(os.path.join(data_prefix or '', split), pipeline, test_mode, where)
        if not (os.path.isdir(self.data_prefix) and os.path.isfile(ann_file)):
            raise ConfigError(
                f"{where}.data_prefix: {self.data_prefix}/ or {ann_file} not found. ms_cls does "
                f"not download data sets: get Stanford Cars from {CARS_URL} (images, devkit "
                "and the test annotations with labels) and lay it out as "
                f"{data_prefix}/cars_train/, cars_test/ and devkit/ (cars_meta.mat, "
                "cars_train_annos.mat, cars_test_annos_withlabels.mat).")
        records = _load_mat(ann_file, where).get('annotations')
        fields = getattr(getattr(records, 'dtype', None), 'names', None) or ()
        if 'fname' not in fields or 'class' not in fields:
            raise ConfigError(f"{ann_file}: expected an 'annotations' struct with 'class' and "
                              f"'fname' fields, found {list(fields) or 'none'}"
                              + ("; cars_test_annos.mat has no labels: use "
                                 "cars_test_annos_withlabels.mat" if 'fname' in fields else '')
                              + ".")
        listed = [(_mat_text(rec['fname']), int(np.asarray(rec['class']).ravel()[0]) - 1)
                  for rec in records.ravel()]
        names = read_classes(classes, where)
        meta = os.path.join(devkit, 'cars_meta.mat')
        if names is None and os.path.isfile(meta):
            found = _load_mat(meta, where).get('class_names')
            if found is None:
                raise ConfigError(f"{meta}: no 'class_names'; replace it with the devkit's "
                                  f"file ({CARS_URL}) or set classes.")
            names = [_mat_text(n) for n in found.ravel()]
        self.numbered = names is None
        top = max((label for _, label in listed), default=-1)
        self._take(listed, names or [str(i) for i in range(top + 1)])
