"""ms_cls: MindSpore image classification for competitions (config -> train -> eval -> submit)."""
from .runtime import prepare_environment

prepare_environment()

__version__ = '0.1.0'
