"""Checking config values where they are read: unknown keys, numbers out of range, type names.

``Registry`` is the one type lookup every builder uses (models, datasets, samplers, transforms,
batch augments, optimizers, schedules, hooks): an unknown name gets the closest known one, and an
error names the key and the file that set it.
"""
import inspect
import numbers

from .config import ConfigDict
from .errors import ConfigError, did_you_mean


def located(cfg, path):
    """A plain dict (built in code, not read from a file) as a ConfigDict that knows its path,
    so errors about it still name the key."""
    if isinstance(cfg, ConfigDict) or not isinstance(cfg, dict):
        return cfg
    return ConfigDict({k: located(v, f'{path}.{k}') if isinstance(v, dict) else v
                       for k, v in cfg.items()}, path=path)


def where(cfg, key=None):
    """'optimizer.lr (set in configs/x.py)' for a ConfigDict, the bare key otherwise."""
    if isinstance(cfg, ConfigDict):
        return cfg.where(key)
    return str(key) if key is not None else 'config'


def subset(cfg, drop=()):
    """A copy of ``cfg`` without the ``drop`` keys that still knows where each key was set."""
    return ConfigDict({k: v for k, v in cfg.items() if k not in drop},
                      path=getattr(cfg, 'path', ''), sources=getattr(cfg, '_sources', {}))


def check_keys(cfg, allowed, what):
    """Raise ConfigError for a key of ``cfg`` that is not in ``allowed``, naming its file."""
    allowed = list(allowed)
    for key in cfg:
        if key not in allowed:
            raise ConfigError(f"Unknown key '{key}' in {what}: {where(cfg, key)}."
                              f"{did_you_mean(key, allowed)} Valid keys: "
                              f"{', '.join(sorted(map(str, allowed)))}.")


def check_dict(cfg, what, example):
    """``cfg`` must be a dict; ``example`` shows the expected shape in the message."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"{what} must be a dict such as {example}, got {cfg!r}.")
    return cfg


def number(cfg, key, low=0.0, high=None, low_open=False, high_open=False):
    """cfg[key] as a float in [low, high] (open ends where asked), else a ConfigError."""
    value = cfg[key]
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if not bad:
        value = float(value)
        bad = (value < low or (low_open and value == low)
               or (high is not None and (value > high or (high_open and value == high))))
    if bad:
        rng = (('(' if low_open else '[') + f'{low:g}, ' + ('inf)' if high is None else
                                                            f'{high:g}' + (')' if high_open else ']')))
        raise ConfigError(f"{where(cfg, key)} = {cfg[key]!r}: expected a number in {rng}.")
    return value


def positive_int(cfg, key, default=None, low=1):
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{where(cfg, key)} = {value!r}: expected an int >= {low}.")
    return value


def flag(cfg, key):
    if not isinstance(cfg[key], bool):
        raise ConfigError(f"{where(cfg, key)} = {cfg[key]!r}: expected True or False.")
    return cfg[key]


PLURALS = {'type': 'types', 'policy': 'policies'}


class Registry:
    """Type name -> factory for one kind of config dict (``what``: 'optimizer', 'backbone', ...).

    ``aliases`` maps other spellings to a type name; ``normalise`` rewrites a name first (mmcv
    title-cases all-lowercase lr policies: 'step' -> 'Step'); ``kind`` is what the name is
    called in messages ('type', 'policy').
    """

    def __init__(self, what, items, aliases=None, normalise=None, kind='type'):
        self.what = what
        self.kind = kind
        self.items = dict(items)
        self.aliases = dict(aliases or {})
        self.normalise = normalise

    def __contains__(self, name):
        return self._resolve(name) in self.items

    def __iter__(self):
        return iter(self.items)

    def _resolve(self, name):
        if self.normalise is not None and isinstance(name, str):
            name = self.normalise(name)
        return self.aliases.get(name, name)

    def name(self, name, where_=None, what=None):
        """The canonical type name for ``name``, or a ConfigError with the closest known one."""
        resolved = self._resolve(name)
        if resolved in self.items:
            return resolved
        same_letters = [t for t in self.items if t.lower() == str(name).lower()]
        hint = f" Did you mean '{same_letters[0]}'?" if same_letters else \
            did_you_mean(name, list(self.items) + list(self.aliases))
        shown = repr(resolved) + (f" (written {name!r})" if resolved != name else '')
        raise ConfigError(f"Unknown {what or self.what} {self.kind} {shown}"
                          + (f" in {where_}" if where_ else '') + f".{hint}"
                          f" Known {PLURALS.get(self.kind, self.kind + 's')}: "
                          f"{', '.join(sorted(self.items))}.")

    def get(self, name, where_=None):
        return self.items[self.name(name, where_)]

    def check_type(self, cfg, what=None):
        """``cfg`` is a dict with a known 'type' -> its canonical type name."""
        what = what or self.what
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise ConfigError(f"{what} must be a dict with a 'type' key ({where(cfg)}), "
                              f"got {cfg!r}.")
        return self.name(cfg['type'], where(cfg, 'type'), what)

    def build(self, cfg, what=None, **extra):
        """``factory(**args, **extra)``; an unknown type or argument names its file and key.

        ``what`` names the dict in messages ('data.sampler'). What the factory itself raises
        is the caller's to word (it knows where in a list the dict stood).
        """
        what = what or self.what
        name = self.check_type(cfg, what)
        factory = self.items[name]
        args = subset(cfg, ('type',))
        check_args(factory, args, f"{what} '{name}'", extra)
        return factory(**args, **extra)


def check_args(factory, args, what, extra=()):
    """The keys of ``args`` must be arguments of ``factory`` (unless it takes **kwargs)."""
    params = inspect.signature(factory).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        check_keys(args, [p for p in params if p not in extra and p != 'self'], what)
