"""PyTorch checkpoints (.pth/.pt) read with numpy alone, without running the file's code.

``torch.save`` pickles the object and keeps each tensor's storage as raw bytes beside the
pickle. Two layouts exist on disk, and both are read here:

- zip (torch >= 1.6): ``<top>/data.pkl`` holds the pickle, ``<top>/data/<key>`` each storage's
  bytes in the byte order of ``<top>/byteorder`` (little when absent); the top folder's name
  varies.
- legacy (``_use_new_zipfile_serialization=False``, what mmcls's publishing tool writes): four
  pickles one after another (magic number, protocol version, system info, the object), then a
  pickle listing the storage keys, then for each key an int64 element count and the bytes,
  always little-endian.

A pickle can call any importable function, so the unpickler here resolves only the globals a
weights file needs (tensor rebuild functions, storage types, dtypes, OrderedDict), each to a
small stand-in of this module; any other global stops the read before anything is called.
Tensors become numpy arrays: bfloat16 as float32 (numpy has none), every other dtype as is.
"""
import _compat_pickle
import collections
import io
import math
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np

from ..errors import ConfigError, UserError

#: torch dtype name -> numpy dtype of its bytes (bfloat16's bytes are read as uint16)
DTYPES = {'float32': 'f4', 'float64': 'f8', 'float16': 'f2', 'bfloat16': 'u2', 'int64': 'i8',
          'int32': 'i4', 'int16': 'i2', 'int8': 'i1', 'uint8': 'u1', 'bool': '?',
          'complex64': 'c8', 'complex128': 'c16'}
#: torch's other names for the same dtypes (``torch.float`` pickles as ``torch.float32``, but
#: older files may name the alias)
DTYPE_ALIASES = {'float': 'float32', 'double': 'float64', 'half': 'float16', 'long': 'int64',
                 'int': 'int32', 'short': 'int16', 'cfloat': 'complex64',
                 'cdouble': 'complex128'}
#: the legacy typed storage classes (``torch.FloatStorage``...) and the dtype of their elements
STORAGE_TYPES = {'FloatStorage': 'float32', 'DoubleStorage': 'float64', 'HalfStorage': 'float16',
                 'BFloat16Storage': 'bfloat16', 'LongStorage': 'int64', 'IntStorage': 'int32',
                 'ShortStorage': 'int16', 'CharStorage': 'int8', 'ByteStorage': 'uint8',
                 'BoolStorage': 'bool', 'ComplexFloatStorage': 'complex64',
                 'ComplexDoubleStorage': 'complex128', 'UntypedStorage': 'uint8'}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
#: the unpickling and decoding errors a damaged file raises
DAMAGE = (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
          AttributeError, struct.error, zipfile.BadZipFile, zlib.error, UnicodeDecodeError,
          OverflowError)
WRAPPERS = ('state_dict', 'model', 'module')


class TorchDtype:
    """Stands for ``torch.float32`` and the like in a pickle."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f'torch.{self.name}'


class StorageType:
    """Stands for ``torch.FloatStorage`` and the like: what a storage's elements are."""

    def __init__(self, dtype):
        self.dtype = dtype


class Storage:
    """One storage's bytes (loaded on first use), or an old-style view into another's."""

    def __init__(self, key, dtype, numel, root=None, start=0):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.root, self.start = root, start
        self.data = None


class Tensor:
    """A tensor as the pickle describes it; it becomes a numpy array once storages are read."""

    def __init__(self, storage, offset, size, stride, dtype=None):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)
        self.dtype = dtype or storage.dtype


def rebuild_tensor(storage, storage_offset, size, stride, *_):
    """``torch._utils._rebuild_tensor`` / ``_rebuild_tensor_v2`` (requires_grad, hooks and
    metadata say nothing about the values)."""
    return Tensor(storage, storage_offset, size, stride)


def rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, hooks, dtype, *_):
    """``torch._utils._rebuild_tensor_v3``: the dtype is given apart from the storage."""
    return Tensor(storage, storage_offset, size, stride, dtype.name)


def rebuild_parameter(data, *_):
    """``torch._utils._rebuild_parameter`` (``_with_state``): an nn.Parameter is its data."""
    return data


def torch_size(dims=()):
    """``torch.Size``: a tuple."""
    return tuple(dims)


def allowed_globals():
    """{(module, name): stand-in} for every global a weights file may ask for."""
    found = {('collections', 'OrderedDict'): collections.OrderedDict,
             ('torch', 'Size'): torch_size}
    for name in ('_rebuild_tensor', '_rebuild_tensor_v2'):
        found['torch._utils', name] = rebuild_tensor
    found['torch._utils', '_rebuild_tensor_v3'] = rebuild_tensor_v3
    for name in ('_rebuild_parameter', '_rebuild_parameter_with_state'):
        found['torch._utils', name] = rebuild_parameter
    for name, dtype in STORAGE_TYPES.items():
        found['torch', name] = StorageType(dtype)
    found['torch.storage', 'UntypedStorage'] = found['torch', 'UntypedStorage']
    for name in DTYPES:
        found['torch', name] = TorchDtype(name)
    for alias, name in DTYPE_ALIASES.items():
        found['torch', alias] = found['torch', name]
    return found


class Reader:
    """One file's read: the restricted unpickler's hooks, the storages and tensors it met."""

    def __init__(self, path):
        self.path = path
        self.storages = {}
        self.tensors = []
        # a table of its own: a pickle may set attributes on the stand-ins it is handed
        self.globals = allowed_globals()
        for key, function in self.globals.items():
            if function in (rebuild_tensor, rebuild_tensor_v3):
                self.globals[key] = self.recording(function)

    def recording(self, rebuild):
        def rebuild_and_record(*args):
            tensor = rebuild(*args)
            self.tensors.append(tensor)
            return tensor
        return rebuild_and_record

    def unpickle(self, source):
        """The next object pickled in ``source`` (bytes or a file)."""
        reader = self

        class RestrictedUnpickler(pickle.Unpickler):
            def find_class(self, module, name):
                return reader.find_class(module, name)

            def persistent_load(self, saved_id):
                return reader.persistent_load(saved_id)

        f = io.BytesIO(source) if isinstance(source, bytes) else source
        return RestrictedUnpickler(f).load()

    def find_class(self, module, name):
        # protocol 2 pickles name Python 2's modules ('__builtin__.eval'): say Python 3's
        module, name = _compat_pickle.NAME_MAPPING.get(
            (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        found = self.globals.get((module, name))
        if found is None:
            raise ConfigError(
                f"{self.path}: refused to load: its pickle asks for {module}.{name}, which a "
                "weights file does not need (loading it could run code). Use weights from a "
                "source you trust, or, if you trust this one, load it in PyTorch and save only "
                "its state_dict.")
        return found

    def persistent_load(self, saved_id):
        """The storage a ``('storage', type, key, location, numel[, view])`` id names."""
        kind, storage_type, key, _location, numel, *view = saved_id
        kind = kind.decode('ascii') if isinstance(kind, bytes) else kind
        if kind != 'storage' or not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(f'unknown persistent id {kind!r}')
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = Storage(key, storage_type.dtype, int(numel))
        if view and view[0] is not None:
            view_key, start, view_numel = view[0]
            if view_key not in self.storages:
                self.storages[view_key] = Storage(view_key, storage.dtype, int(view_numel),
                                                  root=storage, start=int(start))
            storage = self.storages[view_key]
        return storage


def tensor_array(tensor, base, sole_user):
    """``tensor``'s values as a contiguous numpy array, from ``base`` (its storage's elements).
    A tensor that alone uses all of its storage in order keeps the storage's buffer; any other
    is copied out of it."""
    size, stride, offset = tensor.size, tensor.stride, tensor.offset
    count = math.prod(size)
    if count == 0:
        return np.zeros(size, base.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if offset < 0 or min(stride, default=0) < 0 or last >= base.size:
        raise ValueError('a tensor reaches outside its storage')
    if sole_user and offset == 0 and count == base.size and stride == contiguous(size):
        return base.reshape(size)
    view = np.lib.stride_tricks.as_strided(base[offset:], size,
                                           [s * base.itemsize for s in stride], writeable=False)
    return np.array(view, order='C')


def contiguous(size):
    """The strides of a C-ordered tensor of ``size``, in elements."""
    strides, step = [], 1
    for n in reversed(size):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def to_native(array, dtype):
    """Native byte order; bfloat16 (read as uint16) widened to float32."""
    if dtype == 'bfloat16':
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(array.dtype.newbyteorder('='), copy=False)


def materialize(obj, reader, load, byteorder):
    """``obj`` with every Tensor (and bare storage) replaced by a numpy array. ``load(storage)``
    returns a root storage's bytes; with ``load`` (a zip, read on demand) each storage's bytes
    are dropped after its last tensor is built, so about one storage is held at a time."""
    users = collections.Counter(id(root(t.storage)) for t in reader.tensors)
    order = '<' if byteorder == 'little' else '>'
    done = {}

    def base_of(storage, dtype):
        top = root(storage)
        if top.data is None:
            top.data = load(top)
        start = storage.start * np.dtype(DTYPES[storage.dtype]).itemsize
        nbytes = storage.numel * np.dtype(DTYPES[storage.dtype]).itemsize
        raw = memoryview(top.data)[start:start + nbytes]
        return np.frombuffer(raw, np.dtype(DTYPES[dtype]).newbyteorder(order))

    def convert(value):
        if id(value) in done:
            return done[id(value)]
        if isinstance(value, Tensor):
            top = root(value.storage)
            array = tensor_array(value, base_of(value.storage, value.dtype),
                                 users[id(top)] == 1 and value.storage is top)
            users[id(top)] -= 1
            if load is not None and users[id(top)] <= 0:
                top.data = None
            result = to_native(array, value.dtype)
        elif isinstance(value, Storage):
            result = to_native(base_of(value, value.dtype).copy(), value.dtype)
        elif isinstance(value, dict):
            result = value
            done[id(value)] = result
            for key in list(value):
                value[key] = convert(value[key])
        elif isinstance(value, list):
            result = value
            done[id(value)] = result
            value[:] = [convert(v) for v in value]
        elif isinstance(value, (tuple, set, frozenset)):
            result = type(value)(convert(v) for v in value)
        else:
            return value
        done[id(value)] = result
        return result

    return convert(obj)


def root(storage):
    """The storage that owns ``storage``'s bytes (itself unless it is an old-style view)."""
    return storage.root or storage


def read_pth(path):
    """The object a .pth/.pt file holds (dicts, OrderedDicts, lists, numbers, strings), its
    tensors as numpy arrays. Nothing in the file is run: a pickle asking for any global
    besides the tensor machinery raises ConfigError naming it."""
    if not os.path.isfile(path):
        raise ConfigError(f"PyTorch checkpoint not found: {path} (not a file).")
    with open(path, 'rb') as f:
        head = f.read(32)
    try:
        if head.startswith(b'PK\x03\x04'):
            return read_zip(path)
        if head[:1] == b'\x80':
            return read_legacy(path)
    except UserError:
        raise
    except DAMAGE as err:
        raise ConfigError(f"{path}: truncated or corrupt PyTorch checkpoint ({describe(err)}); "
                          "delete it and download again.") from None
    raise ConfigError(f"{path} is not a PyTorch checkpoint: {looks_like(head, path)}.")


def describe(err):
    """'Type: first line' of an exception, for a one-line message."""
    text = str(err).splitlines()[0] if str(err) else ''
    return f'{type(err).__name__}: {text}' if text else type(err).__name__


def looks_like(head, path):
    """What a file that is no torch checkpoint seems to be, from its first bytes."""
    lower = head.lstrip().lower()
    if not head:
        return 'the file is empty'
    if lower.startswith((b'<!doctype', b'<html', b'<?xml', b'<head')):
        return 'it is an HTML/XML page (a download that returned a web page?)'
    if head.startswith(b'version https://git-lfs'):
        return "it is a Git LFS pointer, not the weights (run 'git lfs pull')"
    if len(head) >= 9 and head[8:9] == b'{':
        return 'it looks like a safetensors file; name it .safetensors'
    if head.startswith(b'\x89HDF'):
        return 'it is an HDF5 file (Keras weights?)'
    if path.endswith('.ckpt'):
        return 'it looks like a MindSpore .ckpt; use it as it is'
    return f'it starts with bytes {head[:8]!r}'


def read_zip(path):
    """The zip format: the pickle, then each storage read from the archive when first used."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith('/data.pkl') and n.count('/') == 1]
        if any(n.count('/') >= 2 and n.split('/')[1] == 'code' for n in names):
            raise ConfigError(f"{path} is not a PyTorch checkpoint: it is a TorchScript archive "
                              "(torch.jit.save); load it in PyTorch and save its state_dict.")
        if not pickles:
            raise ConfigError(f"{path} is not a PyTorch checkpoint: it is a zip archive "
                              "without torch.save's data.pkl.")
        top = pickles[0][:-len('data.pkl')]
        byteorder = 'little'
        if top + 'byteorder' in names:
            byteorder = archive.read(top + 'byteorder').decode('ascii').strip()
            if byteorder not in ('little', 'big'):
                raise ValueError(f'unknown byte order {byteorder!r}')
        reader = Reader(path)
        obj = reader.unpickle(archive.read(pickles[0]))

        def load(storage):
            name = f'{top}data/{storage.key}'
            nbytes = storage.numel * np.dtype(DTYPES[storage.dtype]).itemsize
            if archive.getinfo(name).file_size != nbytes:
                raise ValueError(f'{name} does not hold the {nbytes} bytes the pickle says')
            return read_exactly(archive.open(name), nbytes)

        return materialize(obj, reader, load, byteorder)


def read_legacy(path):
    """The legacy format: header pickles, the object, the storage keys, then every storage."""
    with open(path, 'rb') as f:
        reader = Reader(path)
        if reader.unpickle(f) != LEGACY_MAGIC:
            raise ConfigError(f"{path} is not a PyTorch checkpoint: it is a Python pickle "
                              "without torch.save's magic number.")
        protocol = reader.unpickle(f)
        if protocol != LEGACY_PROTOCOL:
            raise ConfigError(f"{path}: legacy PyTorch format version {protocol} is not one "
                              f"this reader knows ({LEGACY_PROTOCOL}); re-save it with a "
                              "recent PyTorch.")
        reader.unpickle(f)
        obj = reader.unpickle(f)
        for key in reader.unpickle(f):
            storage = reader.storages[key]
            numel, = struct.unpack('<q', read_exactly(f, 8))
            if numel != storage.numel:
                raise ValueError(f'storage {key}: {numel} elements, the pickle says '
                                 f'{storage.numel}')
            nbytes = numel * np.dtype(DTYPES[storage.dtype]).itemsize
            if nbytes > os.fstat(f.fileno()).st_size - f.tell():
                raise EOFError(f'storage {key} ends after the file')
            storage.data = read_exactly(f, nbytes)
        missing = [s.key for s in reader.storages.values() if s.root is None and s.data is None]
        if missing:
            raise ValueError(f'storages {missing[:3]} have no data')
        return materialize(obj, reader, None, 'little')


def read_exactly(f, nbytes):
    """``nbytes`` bytes of ``f`` into a writable buffer; EOFError when the file ends first."""
    data = bytearray(nbytes)
    got = f.readinto(data) if nbytes else 0
    while got < nbytes:
        more = f.readinto(memoryview(data)[got:])
        if not more:
            raise EOFError(f'{nbytes - got} bytes missing')
        got += more
    return data


def read_state_dict(path):
    """{name: numpy array}: the weights of a .pth/.pt file, unwrapped from the ``state_dict``
    (mmcv/mmcls), ``model`` (MMPretrain, Swin) or ``module`` wrappers, ``module.`` prefixes
    (DataParallel) stripped, entries that are no tensors dropped."""
    blob = read_pth(path)
    for key in WRAPPERS:
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
    if not isinstance(blob, dict):
        raise ConfigError(f"{path} holds a {type(blob).__name__}, not a dict of weights.")
    return {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in blob.items() if isinstance(k, str) and isinstance(v, np.ndarray)}
