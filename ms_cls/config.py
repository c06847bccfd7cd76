"""Python config files in the mmcls 0.x vocabulary.

A config file is plain Python; its public module-level names are the config. ``_base_`` (a path or
a list of paths, relative to the file) names parent configs whose dicts are merged recursively
under this file's (lists and scalars replace; ``_delete_=True`` replaces a whole dict). Every key
remembers the file that set it, so an error about a misspelt key names that file.
"""
import ast
import copy
import inspect
import os
import pprint
import re

from .errors import ConfigError, did_you_mean
from .fileio import write_text

BASE_KEY = '_base_'
DELETE_KEY = '_delete_'
OPTIONS_SOURCE = '--cfg-options'


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
        if isinstance(value, dict) and not value.get(DELETE_KEY, False) \
                and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, _join(path, key), source)
        else:
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != DELETE_KEY}
            merged[key] = _wrap(value, _join(path, key), source)
        merged._sources[key] = source
    return merged


BASE_REF = re.compile(r'\{\{\s*_base_\.([\w.]+)\s*\}\}')


def _read_text(filename):
    if not os.path.isfile(filename):
        raise ConfigError(f"Config file not found: {filename}")
    if not filename.endswith('.py'):
        raise ConfigError(f"Config file {filename} must be a Python file (.py).")
    with open(filename, encoding='utf-8') as f:
        return f.read()


def _declared_bases(text, filename):
    """The ``_base_`` list of a config, read without running it (bases load first)."""
    try:
        tree = ast.parse(BASE_REF.sub('None', text), filename)
    except SyntaxError as err:
        raise ConfigError(f"Syntax error in config {filename}, line {err.lineno}: {err.msg}") \
            from None
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


def _run(text, filename, bases):
    """Execute a config file; ``{{_base_.a.b}}`` (mmcv syntax) reads the merged bases."""
    def base_value(dotted):
        node = bases
        for key in dotted.split('.'):
            if not isinstance(node, dict) or key not in node:
                raise ConfigError(f"{filename}: {{{{_base_.{dotted}}}}} is not defined by its "
                                  "_base_ files.")
            node = node[key]
        return copy.deepcopy(_plain(node))

    code = compile(BASE_REF.sub(r"__base_value__('\1')", text), filename, 'exec')
    namespace = {'__file__': filename, '__name__': '__config__', '__base_value__': base_value}
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


def load_bases(filename):
    """The merged ``_base_`` files of a config, without the file's own settings: what a run
    report compares the run's settings with (empty for a config without bases)."""
    filename = os.path.abspath(filename)
    return Config(_merge_bases(filename, _read_text(filename), ()), os.path.relpath(filename))


def _load(filename, chain=()):
    filename = os.path.abspath(filename)
    if filename in chain:
        raise ConfigError("Circular _base_ chain: " + ' -> '.join(chain + (filename,)))
    text = _read_text(filename)
    merged = _merge_bases(filename, text, chain)
    raw = _run(text, filename, merged)
    raw.pop(BASE_KEY, None)
    return _merge(merged, raw, '', os.path.relpath(filename))


def _merge_bases(filename, text, chain):
    shown = os.path.relpath(filename)
    merged = ConfigDict()
    for base in _declared_bases(text, filename):
        base_file = os.path.join(os.path.dirname(filename), base)
        if not os.path.isfile(base_file):
            raise ConfigError(f"_base_ file '{base}' named in {shown} does not exist "
                              f"(looked for {os.path.normpath(base_file)}).")
        base_cfg = _load(base_file, chain + (filename,))
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


def parse_value(text):
    """Parse one --cfg-options value: int -> float -> bool -> None -> str; [..], (..), a,b lists."""
    text = text.strip()
    if len(text) >= 2 and text[0] in '[(' and text[-1] == {'[': ']', '(': ')'}[text[0]]:
        items = [parse_value(t) for t in _split_top_level(text[1:-1])]
        return items if text[0] == '[' else tuple(items)
    parts = _split_top_level(text)
    if len(parts) > 1:
        return [parse_value(p) for p in parts]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ('true', 'false'):
        return lowered == 'true'
    if lowered == 'none':
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in '\'"':
        return text[1:-1]
    return text


def _split_top_level(text):
    """Split on commas that are not inside brackets or quotes; empty input gives []."""
    parts, depth, quote, current = [], 0, None, ''
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in '\'"':
            quote = ch
        elif ch in '[(':
            depth += 1
        elif ch in '])':
            depth -= 1
        elif ch == ',' and depth == 0:
            parts.append(current)
            current = ''
            continue
        current += ch
    if current.strip() or parts:
        parts.append(current)
    return [p for p in parts if p.strip()]


def parse_options(pairs):
    """['a.b=1', 'c=[1,2]'] -> {'a.b': 1, 'c': [1, 2]} with a clear error for a missing '='."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition('=')
        if not sep or not key:
            raise ConfigError(f"--cfg-options expects KEY=VALUE, got '{pair}' "
                              "(e.g. runner.max_epochs=3 or data.train.pipeline.1.flip_prob=0.0).")
        options[key.strip()] = parse_value(value)
    return options


class Config(ConfigDict):
    """The merged config of one run: a ConfigDict plus the file it came from."""

    def __init__(self, cfg_dict=None, filename=None):
        cfg = cfg_dict if isinstance(cfg_dict, ConfigDict) else _wrap(cfg_dict or {}, '', filename)
        super().__init__(cfg, path='', sources=cfg._sources)
        object.__setattr__(self, 'filename', filename)

    def __deepcopy__(self, memo):
        return Config(ConfigDict.__deepcopy__(self, memo), self.filename)

    def __reduce__(self):
        return Config, (ConfigDict(dict(self), sources=self._sources), self.filename)

    @classmethod
    def fromfile(cls, filename, cfg_options=None):
        cfg = cls(_load(filename), os.path.relpath(filename))
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        return cfg

    def merge_from_dict(self, options):
        """Apply {'a.b.c': value} overrides; list indices are dotted too ('pipeline.1.p')."""
        for dotted, value in options.items():
            keys = dotted.split('.')
            node = self
            for depth, key in enumerate(keys[:-1]):
                node = self._descend(node, key, keys[:depth], dotted)
            last = keys[-1]
            if isinstance(node, (list, tuple)):
                index = self._index(node, last, dotted)
                items = list(node)
                items[index] = _wrap(value, dotted, OPTIONS_SOURCE)
                self._replace_sequence(keys[:-1], type(node)(items))
            else:
                node[last] = _wrap(value, dotted, OPTIONS_SOURCE)
                node._sources[last] = OPTIONS_SOURCE

    def _descend(self, node, key, parents, dotted):
        if isinstance(node, (list, tuple)):
            return node[self._index(node, key, dotted)]
        if key not in node:
            node[key] = ConfigDict(path=_join('.'.join(parents), key))
            node._sources[key] = OPTIONS_SOURCE
        child = node[key]
        if not isinstance(child, (dict, list, tuple)):
            raise ConfigError(f"--cfg-options {dotted}: '{_join('.'.join(parents), key)}' is "
                              f"{child!r}, not a dict or list, so it has no sub-keys.")
        return child

    @staticmethod
    def _index(seq, key, dotted):
        if not key.lstrip('-').isdigit() or not -len(seq) <= int(key) < len(seq):
            raise ConfigError(f"--cfg-options {dotted}: '{key}' is not a valid index into a list "
                              f"of {len(seq)} items.")
        return int(key)

    def _replace_sequence(self, keys, new_seq):
        """Tuples are immutable: rebuild the container chain that holds the changed item."""
        node = self
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, (list, tuple)) else node[key]
        if isinstance(node, list):
            node[int(keys[-1])] = new_seq
        elif isinstance(node, tuple):
            self._replace_sequence(keys[:-1], node[:int(keys[-1])] + (new_seq,) + node[int(keys[-1]) + 1:])
        else:
            node[keys[-1]] = new_seq

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
