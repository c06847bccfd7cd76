"""Python config files in the mmcls 0.x vocabulary.

A config file is plain Python; its public module-level names are the config. ``_base_`` (a path or
a list of paths, relative to the file) names parent configs whose dicts are merged recursively
under this file's (lists and scalars replace; ``_delete_=True`` replaces a whole dict). Every key
remembers the file that set it, so an error about a misspelt key names that file.

As in mmcv 1.7, ``{{ fileDirname }}``, ``{{ fileBasename }}``, ``{{ fileBasenameNoExtension }}``
and ``{{ fileExtname }}`` are replaced by the file's own path parts (as text, so also inside
quotes), ``{{ _base_.a.b }}`` (not quoted) by a copy of that value of the merged bases, and a
``_deprecation_`` dict is dropped with a warning.
"""
import ast
import copy
import difflib
import inspect
import os
import pprint
import re
import warnings

from .errors import ConfigError, did_you_mean
from .fileio import write_text

BASE_KEY = '_base_'
DELETE_KEY = '_delete_'
DEPRECATION_KEY = '_deprecation_'
OPTIONS_SOURCE = '--cfg-options'

#: Every top-level key ms_cls reads (each does what mmcls does). Other names in a config file are
#: helpers (``train_pipeline``, ``img_norm_cfg``); see :func:`check_top_level_names`.
TOP_LEVEL_KEYS = (
    'model', 'data', 'optimizer', 'optimizer_config', 'lr_config', 'momentum_config', 'runner',
    'checkpoint_config', 'log_config', 'evaluation', 'load_from', 'resume_from', 'work_dir',
    'device_target', 'mode', 'amp_level', 'loss_scale', 'seed', 'deterministic', 'custom_hooks',
    'auto_scale_lr', 'fp16', 'workflow', 'dataset_sink_mode', 'sink_size', 'test_pipeline',
    'sampler',
)

#: mmcls runtime keys that cannot change a result under MindSpore: accepted (every mmcls config
#: inherits them from its default_runtime.py), and the run log says once that they were not used.
IGNORED_KEYS = {
    'dist_params': "msrun and mindspore.communication choose the backend",
    'gpu_ids': "the device is device_target, the card msrun's",
    'cudnn_benchmark': "MindSpore selects convolution algorithms itself",
    'opencv_num_threads': "ms_cls decodes with Pillow, not OpenCV",
    'mp_start_method': "MindSpore's dataset workers are its own processes",
    'log_level': "ms_cls logs at INFO; GLOG_v sets MindSpore's own level",
}

#: mmcls keys whose loss would change the result: rejected with what to do instead.
UNSUPPORTED_KEYS = {
    'train_cfg': "batch augments go under model.train_cfg",
}


def ignored_keys_note(names):
    """The one run-log line for the IGNORED_KEYS (and torch loader options) a config sets."""
    if not names:
        return None
    return ("not used under MindSpore (they cannot change the result): "
            + '; '.join(f"{name} ({why})" for name, why in names.items()) + '.')


class ConfigDict(dict):
    """A dict with attribute access that knows its dotted path and which file set each key."""

    def __init__(self, *args, path='', sources=None, **kwargs):
        super().__init__(*args, **kwargs)
        object.__setattr__(self, '_path', path)
        object.__setattr__(self, '_sources', dict(sources or {}))

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            where = self._path or 'the config'
            raise AttributeError(f"'{name}' is not set in {where}.{did_you_mean(name, self)}") \
                from None

    def __setattr__(self, name, value):
        self[name] = value

    def __deepcopy__(self, memo):
        return ConfigDict({k: copy.deepcopy(v, memo) for k, v in self.items()},
                          path=self._path, sources=self._sources)

    def __reduce__(self):
        return ConfigDict._rebuild, (dict(self), self._path, self._sources)

    @staticmethod
    def _rebuild(items, path, sources):
        return ConfigDict(items, path=path, sources=sources)

    @property
    def path(self):
        return self._path

    def source_of(self, key):
        """The file (or '--cfg-options') that set ``key`` here, or None."""
        return self._sources.get(key)

    def where(self, key=None):
        """'model.backbone.depth (configs/x.py)' for error messages."""
        dotted = '.'.join(p for p in (self._path, None if key is None else str(key)) if p)
        src = self.source_of(key) if key is not None else next(iter(self._sources.values()), None)
        return f"{dotted or 'config'}" + (f" (set in {src})" if src else '')

    def to_dict(self):
        return _plain(self)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _wrap(value, path, source):
    """Turn nested dicts into ConfigDicts whose keys all come from ``source``."""
    if isinstance(value, dict):
        node = ConfigDict(path=path)
        for k, v in value.items():
            node[k] = _wrap(v, _join(path, k), source)
            node._sources[k] = source
        return node
    if isinstance(value, (list, tuple)):
        return type(value)(_wrap(v, _join(path, i), source) for i, v in enumerate(value))
    return value


def _join(path, key):
    return f'{path}.{key}' if path else str(key)


def _merge(base, child, path, source):
    """Merge ``child`` (a plain dict from ``source``) into ``base`` (a ConfigDict made for this
    merge by ``_load``, so it is updated in place)."""
    merged = base if isinstance(base, ConfigDict) else ConfigDict(path=path)
    for key, value in child.items():
        if key == DELETE_KEY:
            continue
        old = merged.get(key)
        if isinstance(value, dict) and not value.get(DELETE_KEY, False) \
                and old is not None and not isinstance(old, dict):
            raise ConfigError(
                f"{source}: {_join(path, key)} is a dict here but {old!r} in "
                f"{merged.source_of(key)}, so it cannot be merged into it (mmcv refuses this "
                f"too); add {DELETE_KEY}=True to the dict to replace the base value.")
        if isinstance(value, dict) and not value.get(DELETE_KEY, False) \
                and isinstance(old, dict):
            merged[key] = _merge(merged[key], value, _join(path, key), source)
        else:
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != DELETE_KEY}
            merged[key] = _wrap(value, _join(path, key), source)
        merged._sources[key] = source
    return merged


BASE_REF = re.compile(r'\{\{\s*_base_\.([\w.]+)\s*\}\}')
PREDEFINED = re.compile(r'\{\{\s*(fileDirname|fileBasename|fileBasenameNoExtension|fileExtname)'
                        r'\s*\}\}')
BASE_NAME = '__base_ref_{}__'


def _read_text(filename):
    """The file's text with mmcv's predefined variables replaced (paths with '/')."""
    if not os.path.isfile(filename):
        raise ConfigError(f"Config file not found: {filename}")
    if not filename.endswith('.py'):
        raise ConfigError(f"Config file {filename} must be a Python file (.py).")
    with open(filename, encoding='utf-8') as f:
        text = f.read()
    base = os.path.basename(filename)
    parts = {'fileDirname': os.path.dirname(filename), 'fileBasename': base,
             'fileBasenameNoExtension': os.path.splitext(base)[0],
             'fileExtname': os.path.splitext(base)[1]}
    return PREDEFINED.sub(lambda m: parts[m.group(1)].replace('\\', '/'), text)


def _parse(text, filename):
    """-> (the syntax tree with each ``{{_base_.x}}`` as a name, [(that name, 'x')])."""
    refs = []

    def name_for(match):
        refs.append((BASE_NAME.format(len(refs)), match.group(1)))
        return refs[-1][0]

    code = BASE_REF.sub(name_for, text)
    try:
        tree = ast.parse(code, filename)
    except SyntaxError as err:
        raise ConfigError(f"Syntax error in config {filename}, line {err.lineno}: {err.msg}") \
            from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and '__base_ref_' in node.value:
            raise ConfigError(f"{filename}, line {node.lineno}: {{{{_base_.…}}}} inside a quoted "
                              "string; write it without quotes (x = {{_base_.x}}), as mmcv "
                              "substitutes only a whole value.")
    return tree, refs


def _declared_bases(tree, filename):
    """The ``_base_`` list of a config, read without running it (bases load first)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == BASE_KEY for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                raise ConfigError(f"{filename}: _base_ must be a literal path or list of paths.") \
                    from None
            return [bases] if isinstance(bases, str) else list(bases)
    return []


def _referenced(tree, refs):
    """Top-level names this file reads: by name in its code, or as ``{{_base_.name...}}``."""
    names = {node.id for node in ast.walk(tree)
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return names | {dotted.split('.')[0] for _, dotted in refs}


def _run(tree, refs, filename, bases):
    """Execute a config file; ``{{_base_.a.b}}`` (mmcv syntax) reads the merged bases."""
    namespace = {'__file__': filename, '__name__': '__config__'}
    for name, dotted in refs:
        node = bases
        for key in dotted.split('.'):
            if not isinstance(node, dict) or key not in node:
                raise ConfigError(f"{filename}: {{{{_base_.{dotted}}}}} is not defined by its "
                                  "_base_ files.")
            node = node[key]
        namespace[name] = copy.deepcopy(_plain(node))
    code = compile(tree, filename, 'exec')
    try:
        exec(code, namespace)  # the config file is the user's own Python, as in mmcls
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of the user's file is reported as such
        raise ConfigError(f"Config {filename} failed to run: {type(err).__name__}: {err}") \
            from None
    return {k: v for k, v in namespace.items()
            if (not k.startswith('__')) and not inspect.ismodule(v)
            and not inspect.isfunction(v) and not inspect.isclass(v)}


def _deprecation(raw, shown):
    """mmcv's ``_deprecation_ = dict(expected=..., reference=...)``: dropped, with a warning."""
    info = raw.pop(DEPRECATION_KEY, None)
    if info is None:
        return
    info = info if isinstance(info, dict) else {}
    message = f"The config file {shown} will be deprecated in the future."
    if 'expected' in info:
        message += f" Please use {info['expected']} instead."
    if 'reference' in info:
        message += f" More information: {info['reference']}"
    warnings.warn(message, FutureWarning, stacklevel=4)


def _load(filename, chain=(), referenced=None):
    """The merged config of ``filename``; ``referenced`` collects the top-level names that the
    files of the chain read (helpers)."""
    filename = os.path.abspath(filename)
    if filename in chain:
        raise ConfigError("Circular _base_ chain: " + ' -> '.join(chain + (filename,)))
    referenced = set() if referenced is None else referenced
    tree, refs = _parse(_read_text(filename), filename)
    referenced |= _referenced(tree, refs)
    merged = _merge_bases(filename, tree, chain, referenced)
    raw = _run(tree, refs, filename, merged)
    raw.pop(BASE_KEY, None)
    shown = os.path.relpath(filename)
    _deprecation(raw, shown)
    return _merge(merged, raw, '', shown)


def load_bases(filename):
    """The merged ``_base_`` files of a config, without the file's own settings: what a run
    report compares the run's settings with (empty for a config without bases)."""
    filename = os.path.abspath(filename)
    tree, _ = _parse(_read_text(filename), filename)
    return Config(_merge_bases(filename, tree, (), set()), os.path.relpath(filename))


def _merge_bases(filename, tree, chain, referenced):
    """The ``_base_`` files of ``filename`` merged in order (a key in two bases is an error)."""
    shown = os.path.relpath(filename)
    merged = ConfigDict()
    for base in _declared_bases(tree, filename):
        base_file = os.path.join(os.path.dirname(filename), base)
        if not os.path.isfile(base_file):
            raise ConfigError(f"_base_ file '{base}' named in {shown} does not exist "
                              f"(looked for {os.path.normpath(base_file)}).")
        base_cfg = _load(base_file, chain + (filename,), referenced)
        for key in base_cfg:
            if key in merged:
                raise ConfigError(
                    f"Key '{key}' is defined by two _base_ files of {shown}: "
                    f"{merged.source_of(key)} and {base_cfg.source_of(key)}. "
                    "Define it in only one base, or set it in the child config.")
        for key, value in base_cfg.items():
            merged[key] = value
            merged._sources[key] = base_cfg.source_of(key)
    return merged


QUOTES = '\'"'
PAIRS = {'[': ']', '(': ')'}


def parse_value(text, where='--cfg-options'):
    """One ``--cfg-options`` value, read as mmcv 1.7's DictAction reads it: quotes around the
    value are dropped; ``(..)`` is a tuple, ``[..]`` a list, ``a,b`` a list (``1,`` is ``[1]``);
    each item, and a single value, is int -> float -> true/false (any case) -> None (exactly
    ``None``) -> the text. Unlike mmcv, spaces inside a value are kept (``a b``, not ``ab``).
    What mmcv would read differently from how it is written is an error naming ``where``:
    unbalanced brackets or quotes, a comma inside quotes (mmcv splits there), and brackets that
    open and close more than once at the top (``[1],[2]``)."""
    text = _unquote(text.strip(), where)
    items = _items(text, where)     # checks the brackets and quotes first
    if text[:1] in PAIRS and text[-1:] == PAIRS[text[:1]] and _closing(text) == len(text) - 1:
        items = [parse_value(t, where) for t in _items(text[1:-1], where)]
        return items if text[0] == '[' else tuple(items)
    if text[:1] in PAIRS and text[-1:] in PAIRS.values():
        raise ConfigError(f"{where}: {text!r} has more than one bracketed group at the top; "
                          "mmcv's DictAction would misread it, so wrap it in one: "
                          f"[{text}].")
    if len(items) > 1 or text.rstrip().endswith(','):
        return [parse_value(t, where) for t in items]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ('true', 'false'):
        return text.lower() == 'true'
    return None if text == 'None' else text


def _unquote(text, where):
    """Drop matching quotes around ``text`` (mmcv drops quotes at both ends); one-sided -> error."""
    while text[:1] in QUOTES and text or text[-1:] in QUOTES and text:
        if len(text) < 2 or text[0] != text[-1]:
            raise ConfigError(f"{where}: unbalanced quote in {text!r}; quote the whole value "
                              "or nothing.")
        text = text[1:-1].strip()
    return text


def _closing(text):
    """The index of the bracket that closes ``text[0]`` (the brackets are balanced)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch in PAIRS) - (ch in PAIRS.values())
        if depth == 0:
            return i
    return len(text) - 1


def _items(text, where):
    """Split on commas outside brackets (a trailing comma ends the list, as in mmcv; an empty
    item elsewhere is ''); brackets must nest and quotes must close."""
    parts, stack, quote, current = [], [], None, ''
    for ch in text:
        if quote:
            if ch == ',':
                raise ConfigError(f"{where}: a comma inside quotes in {text!r}: mmcv's DictAction "
                                  "splits the value there. Set such a value in the config file.")
            quote = None if ch == quote else quote
        elif ch in QUOTES:
            quote = ch
        elif ch in PAIRS:
            stack.append(PAIRS[ch])
        elif ch in PAIRS.values():
            if not stack or stack.pop() != ch:
                raise ConfigError(f"{where}: unbalanced brackets in {text!r}.")
        elif ch == ',' and not stack:
            parts.append(current.strip())
            current = ''
            continue
        current += ch
    if stack or quote:
        raise ConfigError(f"{where}: unbalanced {'quote' if quote else 'brackets'} in {text!r}.")
    if current.strip() or not parts:
        parts.append(current.strip())
    return parts if text.strip() else []


def _split_top_level(text, where='--grid'):
    """The non-empty top-level comma items of ``text`` (the sweep's ``--grid`` values), with
    the bracket and quote checks of :func:`parse_value`."""
    return [item for item in _items(text, where) if item]


def parse_options(pairs):
    """['a.b=1', 'c=[1,2]'] -> {'a.b': 1, 'c': [1, 2]} with a clear error for a missing '='."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition('=')
        if not sep or not key:
            raise ConfigError(f"--cfg-options expects KEY=VALUE, got '{pair}' "
                              "(e.g. runner.max_epochs=3 or data.train.pipeline.1.flip_prob=0.0).")
        options[key.strip()] = parse_value(value, f"--cfg-options {pair}")
    return options


def check_option_keys(options, cfg):
    """A ``--cfg-options`` key must lead to a key ms_cls reads: its top-level name is one of
    TOP_LEVEL_KEYS, IGNORED_KEYS or UNSUPPORTED_KEYS (which the run plan explains). A helper of
    the config file (``train_pipeline``) is refused too: the file has already used its value,
    so changing it would change nothing."""
    for dotted in options:
        top = dotted.split('.')[0]
        if top in TOP_LEVEL_KEYS or top in UNSUPPORTED_KEYS or top in IGNORED_KEYS:
            continue
        if top in cfg:
            raise ConfigError(f"--cfg-options {dotted}: '{top}' is a helper variable of "
                              f"{cfg.source_of(top)}, not a key ms_cls reads; the config has "
                              "already used its value, so set the key that uses it (e.g. "
                              "data.train.pipeline.1.flip_prob instead of "
                              "train_pipeline.1.flip_prob).")
        raise ConfigError(f"--cfg-options {dotted}: '{top}' is not a config key ms_cls reads."
                          f"{did_you_mean(top, TOP_LEVEL_KEYS)}")


def check_top_level_names(cfg):
    """Top-level names of a config that ms_cls does not read are helpers (``train_pipeline``,
    ``img_norm_cfg``). One close to a key (``lr_confg``) is taken for a typo and is an error,
    unless a file of the config reads it (by name, or as ``{{_base_.name}}``): then it is
    clearly a helper."""
    referenced = getattr(cfg, 'referenced', frozenset())
    for key in cfg:
        if key in TOP_LEVEL_KEYS or key in UNSUPPORTED_KEYS or key in IGNORED_KEYS \
                or key in referenced:
            continue
        close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1, cutoff=0.8)
        if close:
            raise ConfigError(f"Top-level name {cfg.where(key)} looks like a misspelt "
                              f"'{close[0]}' and nothing reads it, so it would be ignored. Rename "
                              f"it to '{close[0]}' (or, for a helper variable, use it where it "
                              "is meant to go).")


class Config(ConfigDict):
    """The merged config of one run: a ConfigDict plus the file it came from."""

    def __init__(self, cfg_dict=None, filename=None, referenced=()):
        cfg = cfg_dict if isinstance(cfg_dict, ConfigDict) else _wrap(cfg_dict or {}, '', filename)
        super().__init__(cfg, path='', sources=cfg._sources)
        object.__setattr__(self, 'filename', filename)
        object.__setattr__(self, 'referenced', frozenset(referenced))

    def __deepcopy__(self, memo):
        return Config(ConfigDict.__deepcopy__(self, memo), self.filename, self.referenced)

    def __reduce__(self):
        return Config, (ConfigDict(dict(self), sources=self._sources), self.filename,
                        self.referenced)

    @classmethod
    def fromfile(cls, filename, cfg_options=None):
        """The merged config of ``filename``, then ``cfg_options`` ({'a.b': value}, as the
        command line's --cfg-options: each key must lead to a key ms_cls reads)."""
        referenced = set()
        cfg = cls(_load(filename, referenced=referenced), os.path.relpath(filename), referenced)
        if cfg_options:
            check_option_keys(cfg_options, cfg)
            cfg.merge_from_dict(cfg_options)
        return cfg

    def merge_from_dict(self, options):
        """Apply {'a.b.c': value} overrides as mmcv does: list items by their index ('pipeline.1.p',
        0 to len - 1), missing dict keys are added; a tuple is replaced only whole."""
        for dotted, value in options.items():
            keys = dotted.split('.')
            node = self
            for depth, key in enumerate(keys[:-1]):
                node = self._descend(node, key, keys[:depth], dotted)
            last = keys[-1]
            if isinstance(node, list):
                node[self._index(node, last, dotted)] = _wrap(value, dotted, OPTIONS_SOURCE)
            else:
                node[last] = _wrap(value, dotted, OPTIONS_SOURCE)
                node._sources[last] = OPTIONS_SOURCE

    def _descend(self, node, key, parents, dotted):
        if isinstance(node, list):
            return node[self._index(node, key, dotted)]
        if key not in node:
            node[key] = ConfigDict(path=_join('.'.join(parents), key))
            node._sources[key] = OPTIONS_SOURCE
        child = node[key]
        where = _join('.'.join(parents), key)
        if isinstance(child, tuple):
            raise ConfigError(f"--cfg-options {dotted}: '{where}' is the tuple {child!r}; give it "
                              f"whole (e.g. {where}=({', '.join(map(repr, child))})), as mmcv "
                              "cannot set one item of a tuple either.")
        if not isinstance(child, (dict, list)):
            raise ConfigError(f"--cfg-options {dotted}: '{where}' is {child!r}, not a dict or "
                              "list, so it has no sub-keys.")
        return child

    @staticmethod
    def _index(seq, key, dotted):
        if not key.isdigit() or int(key) >= len(seq):
            raise ConfigError(f"--cfg-options {dotted}: '{key}' is not a valid index into a list "
                              f"of {len(seq)} items (0 to {len(seq) - 1}; mmcv takes no negative "
                              "index).")
        return int(key)

    @property
    def pretty_text(self):
        lines = [f'# merged config of {self.filename}' if self.filename else '# merged config']
        for key, value in self.items():
            lines.append(f'{key} = {_format(value, 0)}')
        return '\n'.join(lines) + '\n'

    def dump(self, path):
        """Write the merged config as a loadable Python config file (atomically)."""
        write_text(path, self.pretty_text)


def run_work_dir(cfg, work_dir=None):
    """A run's work dir: ``--work-dir``, else the config's ``work_dir``, else mmcls's
    ``work_dirs/<config name>``."""
    if work_dir or cfg.get('work_dir'):
        return work_dir or cfg.get('work_dir')
    stem = os.path.splitext(os.path.basename(cfg.filename or 'config'))[0]
    return os.path.join('work_dirs', stem)


def _format(value, indent):
    pad = ' ' * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return 'dict()'
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            items = [f'{pad}{k}={_format(v, indent + 4)}' for k, v in value.items()]
            return 'dict(\n' + ',\n'.join(items) + ')'
        items = [f'{pad}{k!r}: {_format(v, indent + 4)}' for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '}'
    if isinstance(value, (list, tuple)):
        open_, close = ('[', ']') if isinstance(value, list) else ('(', ')')
        if not any(isinstance(v, (dict, list, tuple)) for v in value):
            text = pprint.pformat(_plain(value), width=10 ** 6)
            return text
        items = [f'{pad}{_format(v, indent + 4)}' for v in value]
        trailing = ',' if isinstance(value, tuple) and len(value) == 1 else ''
        return open_ + '\n' + ',\n'.join(items) + trailing + close
    text = repr(value)
    ast.literal_eval(text)  # only literals may be dumped; anything else would not reload
    return text
