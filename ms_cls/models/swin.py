"""Swin Transformer backbone (Liu et al. 2021, https://arxiv.org/abs/2103.14030).

Parameter names equal MindCV's ``swintransformer.py`` (``layers.0.blocks.1.attn.q.weight``,
``layers.0.downsample.reduction.weight``, ``norm.gamma``...), so its checkpoints load by name;
``swin_from_torch`` (``SwinTransformer.from_torch``) renames Microsoft / timm / mmcls PyTorch
state dicts to the same names. Config arguments are mmcls 0.25's (``arch`` names or dict,
``stage_cfgs``...).

Everything that depends only on the input size (relative position index, shift masks, padding)
is computed once with numpy for the configured ``img_size`` and held as constant Tensors, not
Parameters: shapes are static per instance, so the network compiles in GRAPH mode, and the
constants are never written to, or required from, a checkpoint. MindCV stores two of them
(``relative_bias.index``, ``attn_mask``) as Parameters; a MindCV checkpoint therefore loads with
those entries reported as unexpected, which is harmless.
"""
import re
from dataclasses import dataclass

import numpy as np
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
from mindspore.common.initializer import TruncatedNormal, initializer
from mindspore.nn.utils import no_init_parameters

from ..errors import ConfigError, did_you_mean
from .contract import BackboneSpec
from .freeze import freeze, norm_eval as eval_norms
from .layers import DropPath

#: arch -> (embed_dims, depths, num_heads), mmcls 0.25's names and aliases.
ARCH_SETTINGS = {
    'tiny': (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    'small': (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    'base': (128, (2, 2, 18, 2), (4, 8, 16, 32)),
    'large': (192, (2, 2, 18, 2), (6, 12, 24, 48)),
}
ARCH_ALIASES = {'t': 'tiny', 's': 'small', 'b': 'base', 'l': 'large'}
ARCH_KEYS = ('embed_dims', 'depths', 'num_heads')
MASK_VALUE = -100.0  # the original's value for "other region" in shifted windows


def arch_setting(arch):
    """'tiny' / 'T' / ... or mmcls's ``dict(embed_dims, depths, num_heads)`` ->
    (embed_dims, depths, num_heads); anything else is a config error."""
    if isinstance(arch, dict):
        if set(arch) != set(ARCH_KEYS):
            raise ConfigError(f"SwinTransformer arch={dict(arch)!r}: a dict arch needs exactly "
                              f"the keys {list(ARCH_KEYS)} (mmcls's custom arch).")
        dims, depths, heads = arch['embed_dims'], arch['depths'], arch['num_heads']
        if not (_positive_int(dims) and isinstance(depths, (list, tuple))
                and isinstance(heads, (list, tuple)) and len(depths) == len(heads) > 0
                and all(map(_positive_int, list(depths) + list(heads)))
                and all(dims * 2 ** i % h == 0 for i, h in enumerate(heads))):
            raise ConfigError(f"SwinTransformer arch={dict(arch)!r}: embed_dims must be a "
                              "positive int, depths and num_heads lists of positive ints of one "
                              "length, and stage i's width embed_dims * 2**i a multiple of "
                              "num_heads[i].")
        return dims, tuple(depths), tuple(heads)
    name = ARCH_ALIASES.get(arch.lower(), arch.lower()) if isinstance(arch, str) else None
    if name not in ARCH_SETTINGS:
        raise ConfigError(f"SwinTransformer arch={arch!r} is not supported; use one of "
                          f"{sorted(ARCH_SETTINGS) + sorted(ARCH_ALIASES)} or a dict with the "
                          f"keys {list(ARCH_KEYS)}.")
    return ARCH_SETTINGS[name]


def arch_name(arch):
    """'Swin-L' for the named archs, 'Swin(embed_dims=.., depths=.., num_heads=..)' for a dict."""
    if isinstance(arch, dict):
        dims, depths, heads = arch_setting(arch)
        return f'Swin(embed_dims={dims}, depths={list(depths)}, num_heads={list(heads)})'
    return f'Swin-{ARCH_ALIASES.get(arch.lower(), arch.lower())[0].upper()}'


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _dense(in_channels, out_channels, has_bias=True):
    """Dense with the original's init: trunc normal std .02, zero bias."""
    return nn.Dense(in_channels, out_channels, weight_init=TruncatedNormal(0.02),
                    bias_init='zeros', has_bias=has_bias)


def _layer_norm(dim, eps=1e-5):
    """PyTorch's LayerNorm epsilon by default (MindSpore's is 1e-7), so converted weights
    match; ``None`` (mmcls's ``norm_cfg=None``) is no norm at all."""
    return nn.Identity() if eps is None else nn.LayerNorm((dim,), epsilon=eps)


def _dropout(p):
    return nn.Dropout(p=p) if p > 0 else nn.Identity()


def _drop_path(p):
    return DropPath(p) if p > 0 else nn.Identity()


class Mlp(nn.Cell):
    def __init__(self, dim, hidden, drop):
        super().__init__()
        self.fc1 = _dense(dim, hidden)
        self.act = nn.GELU(approximate=False)  # exact erf GELU, as torch.nn.GELU
        self.fc2 = _dense(hidden, dim)
        self.drop = _dropout(drop)

    def construct(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def relative_position_index(window):
    """(w*w, w*w) int32: index into the ((2w-1)^2, heads) table for each token pair."""
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing='ij'))
    coords = coords.reshape(2, -1)
    rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
    return (rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]).astype(np.int32)


class RelativeBias(nn.Cell):
    """The learnt relative position bias, looked up for every token pair of a window."""

    def __init__(self, window, num_heads):
        super().__init__()
        self.num_tokens = window * window
        self.relative_position_bias_table = ms.Parameter(initializer(
            TruncatedNormal(0.02), ((2 * window - 1) ** 2, num_heads), ms.float32))
        self.index = ms.Tensor(relative_position_index(window).reshape(-1))  # constant

    def construct(self):
        bias = ops.gather(self.relative_position_bias_table, self.index, 0)
        bias = ops.reshape(bias, (self.num_tokens, self.num_tokens, -1))
        return ops.expand_dims(ops.transpose(bias, (2, 0, 1)), 0)  # (1, heads, N, N)


class WindowAttention(nn.Cell):
    """Multi-head self-attention inside each window, with relative position bias.

    q, k and v are separate Dense layers (MindCV's names); ``swin_from_torch`` splits the fused
    PyTorch ``qkv`` weight into them.
    """

    def __init__(self, dim, window, num_heads, attn_drop, proj_drop, qk_scale=None):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim ** -0.5
        self.q = _dense(dim, dim)
        self.k = _dense(dim, dim)
        self.v = _dense(dim, dim)
        self.relative_bias = RelativeBias(window, num_heads)
        self.attn_drop = _dropout(attn_drop)
        self.proj = _dense(dim, dim)
        self.proj_drop = _dropout(proj_drop)

    def _heads(self, x):
        b, n, _ = x.shape
        return ops.transpose(ops.reshape(x, (b, n, self.num_heads, self.head_dim)), (0, 2, 1, 3))

    def construct(self, x, mask=None):
        """x: (num_windows * B, N, C); mask: (1, num_windows, 1, N, N) of 0 / -100, or None."""
        b, n, c = x.shape
        q = self._heads(self.q(x)) * self.scale
        k = self._heads(self.k(x))
        v = self._heads(self.v(x))
        attn = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) + self.relative_bias()
        if mask is not None:
            num_windows = mask.shape[1]
            attn = ops.reshape(attn, (b // num_windows, num_windows, self.num_heads, n, n)) + mask
            attn = ops.reshape(attn, (b, self.num_heads, n, n))
        attn = self.attn_drop(ops.softmax(attn, axis=-1))
        x = ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (b, n, c))
        return self.proj_drop(self.proj(x))

    @staticmethod
    def matmul_macs(input_shape):
        """Multiply-adds of q @ k^T and attn @ v (no Dense cell does them) for the FLOP count."""
        b, n, c = input_shape
        return 2 * b * n * n * c


def window_partition_np(x, window):
    """(B, H, W, C) -> (B * H/w * W/w, w, w, C), numpy, for building masks."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // window, window, w // window, window, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c)


def shift_attention_mask(height, width, window, shift):
    """(1, nW, 1, w*w, w*w) float32: 0 inside a region, -100 across regions of the rolled map.

    ``height``/``width`` are the padded sizes (mmcls ShiftWindowMSA builds it there too).
    """
    img = np.zeros((1, height, width, 1), np.float32)
    spans = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    region = 0
    for hs in spans:
        for ws in spans:
            img[:, hs, ws, :] = region
            region += 1
    windows = window_partition_np(img, window).reshape(-1, window * window)
    mask = windows[:, None, :] - windows[:, :, None]
    mask = np.where(mask != 0, MASK_VALUE, 0.0).astype(np.float32)
    return mask[None, :, None]


@dataclass(frozen=True)
class BlockCfg:
    """One block's settings, resolved from mmcls's top-level keys, ``stage_cfgs`` and their
    ``block_cfgs`` (see ``block_cfgs``); defaults are mmcls's."""
    window_size: int = 7
    shift: bool = False
    pad_small_map: bool = False
    hidden_ratio: float = 4.
    hidden: int = None  # ffn_cfgs.feedforward_channels: overrides dim * hidden_ratio
    norm_eps: float = 1e-5
    qk_scale: float = None
    attn_drop: float = 0.
    proj_drop: float = 0.
    ffn_drop: float = 0.
    drop_path: float = 0.


class SwinTransformerBlock(nn.Cell):
    """(Shifted) window attention + MLP, both pre-norm residual, for one fixed resolution.

    A map larger than the window that is not a multiple of it is zero-padded at the
    bottom/right before the roll and partition and cropped afterwards, the shift mask being
    built on the padded size (mmcls ``ShiftWindowMSA``). A map as large as the window is one
    window, not shifted unless ``pad_small_map`` (mmcls). A smaller map is padded to the window
    and shifted with ``pad_small_map`` (mmcls); without it mmcls refuses to run, and here it gets
    one window of its own size and no shift, as Microsoft's original (so small inputs work).
    """

    def __init__(self, dim, resolution, num_heads, cfg=BlockCfg()):
        super().__init__()
        self.height, self.width = resolution
        window_size, shift = cfg.window_size, cfg.shift
        if min(resolution) <= window_size and not cfg.pad_small_map:
            window_size, shift = min(resolution), False
        self.window = window_size
        self.shift = window_size // 2 if shift else 0
        self.pad_h = (-self.height) % window_size
        self.pad_w = (-self.width) % window_size
        self.padded = (self.height + self.pad_h, self.width + self.pad_w)
        self.norm1 = _layer_norm(dim, cfg.norm_eps)
        self.attn = WindowAttention(dim, window_size, num_heads, cfg.attn_drop, cfg.proj_drop,
                                    cfg.qk_scale)
        self.drop_path = _drop_path(cfg.drop_path)
        self.norm2 = _layer_norm(dim, cfg.norm_eps)
        self.mlp = Mlp(dim, cfg.hidden or int(dim * cfg.hidden_ratio), cfg.ffn_drop)
        self.attn_mask = None
        if self.shift:
            self.attn_mask = ms.Tensor(shift_attention_mask(*self.padded, window_size, self.shift))

    def _roll(self, x, shift):
        """torch.roll(x, (shift, shift), (1, 2)) by slicing (static, graph-mode friendly)."""
        x = ops.concat((x[:, -shift:], x[:, :-shift]), axis=1)
        return ops.concat((x[:, :, -shift:], x[:, :, :-shift]), axis=2)

    def _attention(self, x):
        b, _, c = x.shape
        w = self.window
        hp, wp = self.padded
        x = ops.reshape(x, (b, self.height, self.width, c))
        if self.pad_w:
            x = ops.concat((x, ops.zeros((b, self.height, self.pad_w, c), x.dtype)), axis=2)
        if self.pad_h:
            x = ops.concat((x, ops.zeros((b, self.pad_h, wp, c), x.dtype)), axis=1)
        if self.shift:
            x = self._roll(x, -self.shift)
        x = ops.reshape(x, (b, hp // w, w, wp // w, w, c))
        x = ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, w * w, c))
        x = self.attn(x, self.attn_mask)
        x = ops.reshape(x, (b, hp // w, wp // w, w, w, c))
        x = ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (b, hp, wp, c))
        if self.shift:
            x = self._roll(x, self.shift)
        if self.pad_h or self.pad_w:
            x = x[:, :self.height, :self.width, :]
        return ops.reshape(x, (b, self.height * self.width, c))

    def construct(self, x):
        """x: (B, H*W, C) -> same."""
        x = x + self.drop_path(self._attention(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Cell):
    """2x2 neighbours -> one token of 4C channels (original order x0, x1, x2, x3), norm, -> 2C."""

    def __init__(self, resolution, dim, norm_eps=1e-5):
        super().__init__()
        self.height, self.width = resolution
        self.dim = dim
        self.norm = _layer_norm(4 * dim, norm_eps)
        self.reduction = _dense(4 * dim, 2 * dim, has_bias=False)

    def construct(self, x):
        b = x.shape[0]
        h, w = self.height // 2, self.width // 2
        # (b, h, dh, w, dw, C) -> (b, h, w, dw, dh, C): channel blocks (dh, dw) = 00, 10, 01, 11
        x = ops.transpose(ops.reshape(x, (b, h, 2, w, 2, self.dim)), (0, 1, 3, 4, 2, 5))
        return self.reduction(self.norm(ops.reshape(x, (b, h * w, 4 * self.dim))))


class BasicLayer(nn.Cell):
    """One stage: its blocks, then PatchMerging (all stages but the last)."""

    def __init__(self, dim, resolution, num_heads, block_cfgs, downsample_eps=None):
        super().__init__()
        self.blocks = nn.CellList([SwinTransformerBlock(dim, resolution, num_heads, cfg)
                                   for cfg in block_cfgs])
        self.downsample = (None if downsample_eps is None else
                           PatchMerging(resolution, dim, downsample_eps))

    def construct(self, x):
        for block in self.blocks:
            x = block(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return x


class PatchEmbed(nn.Cell):
    """Non-overlapping patch_size x patch_size patches -> tokens (B, H/p * W/p, C), normed."""

    def __init__(self, in_channels, embed_dims, patch_size, norm_eps=1e-5, bias=True):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size,
                              pad_mode='valid', has_bias=bias)
        self.norm = _layer_norm(embed_dims, norm_eps)

    def construct(self, x):
        x = self.proj(x)
        b, c = x.shape[0], x.shape[1]
        return self.norm(ops.transpose(ops.reshape(x, (b, c, -1)), (0, 2, 1)))


class SwinTransformer(nn.Cell):
    """Swin-T/S/B/L backbone: images (N, 3, H, W) -> feature map (N, C, H/32, W/32).

    The map is taken after the final LayerNorm ``norm`` (mmcls's ``norm3``), so
    ``GlobalAveragePooling`` + ``LinearClsHead`` give the original classifier. Config arguments
    are mmcls 0.25's, with its meaning (``stage_cfgs``, ``pad_small_map``, ``use_abs_pos_embed``,
    ``norm_cfg``, ``patch_cfg``...); a value this implementation cannot honour is a ConfigError
    naming the key. ``drop_rate`` drops after the patch embedding only (mmcls);
    ``attn_drop_rate`` (not mmcls's) drops attention weights in every block.
    ``img_size`` fixes the network's input size: the window masks are built for it, so the
    absolute position embedding is never resized at run time (``from_torch`` resizes a
    checkpoint's with ``interpolate_mode``). ``with_cp`` (activation checkpointing in PyTorch)
    and ``out_after_downsample`` (with the last stage as the only output) cannot change a result.
    """

    def __init__(self, arch='tiny', img_size=224, patch_size=4, in_channels=3, window_size=7,
                 drop_rate=0., attn_drop_rate=0., drop_path_rate=0.1, out_indices=(3,),
                 out_after_downsample=False, use_abs_pos_embed=False, interpolate_mode='bicubic',
                 with_cp=False, frozen_stages=-1, norm_eval=False, pad_small_map=False,
                 norm_cfg=dict(type='LN'), stage_cfgs=dict(), patch_cfg=dict()):
        super().__init__()
        embed_dims, depths, num_heads = arch_setting(arch)
        self.spec(arch, img_size, patch_size, patch_cfg).apply(self)
        patch_size = _patch_size(patch_size, patch_cfg)
        _check_args(len(depths), out_indices, frozen_stages, dict(
            window_size=(window_size, _positive_int, 'a positive int'),
            drop_rate=(drop_rate, _rate, 'in [0, 1)'),
            attn_drop_rate=(attn_drop_rate, _rate, 'in [0, 1)'),
            drop_path_rate=(drop_path_rate, _rate, 'in [0, 1)'),
            out_after_downsample=(out_after_downsample, _bool, 'True or False'),
            use_abs_pos_embed=(use_abs_pos_embed, _bool, 'True or False'),
            interpolate_mode=(interpolate_mode, INTERPOLATE_MODES.__contains__,
                              f'one of {list(INTERPOLATE_MODES)}'),
            with_cp=(with_cp, _bool, 'True or False'),
            pad_small_map=(pad_small_map, _bool, 'True or False'),
            norm_eval=(norm_eval, _bool, 'True or False')))
        stage_blocks, merge_eps = block_cfgs(embed_dims, depths, window_size, pad_small_map,
                                             drop_path_rate, attn_drop_rate, stage_cfgs)
        patch_eps, patch_bias = _patch_options(patch_cfg, in_channels, img_size, embed_dims)
        height, width = self.img_size
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.interpolate_mode = interpolate_mode
        self.patch_embed = PatchEmbed(in_channels, embed_dims, patch_size, patch_eps, patch_bias)
        resolution = (height // patch_size, width // patch_size)
        self.patch_resolution = resolution
        self.absolute_pos_embed = None
        if use_abs_pos_embed:
            self.absolute_pos_embed = ms.Parameter(initializer(
                TruncatedNormal(0.02), (1, resolution[0] * resolution[1], embed_dims),
                ms.float32), name='absolute_pos_embed')
        self.pos_drop = _dropout(drop_rate)
        layers = []
        for i, blocks in enumerate(stage_blocks):
            layers.append(BasicLayer(embed_dims * 2 ** i, resolution, num_heads[i], blocks,
                                     merge_eps[i] if i < len(depths) - 1 else None))
            if i < len(depths) - 1:
                resolution = (resolution[0] // 2, resolution[1] // 2)
        self.layers = nn.CellList(layers)
        self.out_resolution = resolution
        self.norm = _layer_norm(self.out_channels, _ln_eps(norm_cfg, 'norm_cfg'))
        self._freeze_stages()

    @classmethod
    def spec(cls, arch='tiny', img_size=224, patch_size=4, patch_cfg=None, **_):
        """Width embed_dims * 2 ** (stages - 1); H and W multiples of patch_size * 2 **
        (stages - 1) (the patch embedding and the patch mergings), and exactly ``img_size``: the
        window masks are built for it."""
        embed_dims, depths, _ = arch_setting(arch)
        patch_size = _patch_size(patch_size, patch_cfg or {})
        divisor = patch_size * 2 ** (len(depths) - 1)
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 and s % divisor == 0
                                     for s in size):
            raise ConfigError(f"SwinTransformer img_size={img_size!r}: must be an int or (h, w) "
                              f"of positive multiples of {divisor} (patch_size {patch_size} x "
                              f"{2 ** (len(depths) - 1)}: the patch embedding and "
                              f"{len(depths) - 1} 2x patch mergings).")
        return BackboneSpec(arch_name(arch), embed_dims * 2 ** (len(depths) - 1), divisor, size)

    def _freeze_stages(self):
        """mmcls: >= 0 freezes patch_embed, then layers 0..frozen_stages; the last also the final
        norm. The absolute position embedding stays trainable, as in mmcls."""
        if self.frozen_stages >= 0:
            freeze(self.patch_embed)
        for i in range(self.frozen_stages + 1):
            freeze(self.layers[i])
        if self.frozen_stages >= len(self.layers) - 1:
            freeze(self.norm)
        if self.norm_eval:
            eval_norms(self)  # no BatchNorm in Swin: kept for uniformity with ResNet

    def construct(self, x):
        x = self.patch_embed(x)
        if self.absolute_pos_embed is not None:
            x = x + self.absolute_pos_embed
        x = self.pos_drop(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        h, w = self.out_resolution
        x = ops.reshape(x, (x.shape[0], h, w, self.out_channels))
        return ops.transpose(x, (0, 3, 1, 2))

    @classmethod
    def from_torch(cls, state_dict, **backbone_args):
        """A PyTorch Swin state dict (mmcls's, Microsoft's or timm's; numpy arrays or torch
        tensors; with or without mmcls's ``backbone.`` prefix) -> ``(params, unused keys)``
        named for ``SwinTransformer(**backbone_args)`` (see ``swin_from_torch``). mmcls's
        layout is recognised by its ``stages.`` keys; its PatchMerging channels are put in
        Microsoft's order. An ``absolute_pos_embed`` for another size is resized to
        ``img_size`` with ``interpolate_mode``, as mmcls does when loading. ``type`` and
        ``init_cfg`` in ``backbone_args`` are ignored (a backbone config can be passed whole)."""
        args = {k: v for k, v in backbone_args.items() if k not in ('type', 'init_cfg')}
        return swin_from_torch(state_dict, **args)


INTERPOLATE_MODES = ('bicubic', 'bilinear', 'nearest')
#: mmcls's SwinBlockSequence / SwinBlock / ShiftWindowMSA / FFN keys that ms_cls reads; the
#: others (which change the architecture mmcls's arch sets, or init) are config errors.
STAGE_KEYS = ('window_size', 'pad_small_map', 'with_cp', 'block_cfgs', 'downsample_cfg')
BLOCK_KEYS = ('window_size', 'shift', 'ffn_ratio', 'pad_small_map', 'with_cp', 'norm_cfg',
              'attn_cfgs', 'ffn_cfgs')
ATTN_KEYS = ('qk_scale', 'attn_drop', 'proj_drop', 'qkv_bias', 'auto_pad', 'input_resolution')
FFN_KEYS = ('feedforward_channels', 'ffn_drop', 'act_cfg', 'num_fcs', 'add_identity')
#: keys accepted only with the value(s) mmcls's Swin has (anything else is another network;
#: the padding modes pad nothing here, img_size being a multiple of every stride)
FIXED = {'qkv_bias': (True,), 'act_cfg': (dict(type='GELU'),), 'num_fcs': (2,),
         'add_identity': (True,), 'conv_type': ('Conv2d',), 'dilation': (1, (1, 1)),
         'padding': ('corner', 'same', 0)}
MERGE_FIXED = dict(FIXED, kernel_size=(2, (2, 2)), stride=(None, 2, (2, 2)), bias=(False,))


def _bool(value):
    return isinstance(value, bool)


def _rate(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1


def _positive_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _get(cfg, name, default, ok, key, need):
    """``cfg[name]`` (or ``default``), which must pass ``ok``; ``key`` is the path to ``cfg``."""
    value = cfg.get(name, default)
    if not ok(value):
        raise ConfigError(f"SwinTransformer {key}{name}={value!r}: must be {need}.")
    return value


def _known(cfg, allowed, key, fixed=FIXED):
    """``cfg`` must be a dict of ``allowed`` keys, each ``fixed`` one at mmcls's value."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"SwinTransformer {key.rstrip('.')} must be a dict, got {cfg!r}.")
    for name, value in cfg.items():
        if name not in allowed:
            raise ConfigError(f"SwinTransformer {key}{name} is not supported; ms_cls reads "
                              f"{', '.join(allowed)} there.{did_you_mean(name, allowed)}")
        if name in fixed and value not in fixed[name]:
            raise ConfigError(f"SwinTransformer {key}{name}={value!r} is not supported: "
                              f"mmcls's Swin has {fixed[name][0]!r}.")
    return cfg


def _per_item(cfgs, count, key, what):
    """mmcls's 'one dict for all, or a sequence of one dict per item' -> [(key, dict)] * count."""
    if isinstance(cfgs, dict):
        return [(key + '.', cfgs)] * count
    if isinstance(cfgs, (list, tuple)) and len(cfgs) == count:
        return [(f'{key}[{i}].', cfg) for i, cfg in enumerate(cfgs)]
    raise ConfigError(f"SwinTransformer {key}={cfgs!r}: must be a dict (for every {what}) or a "
                      f"list of {count} dicts (one per {what}).")


def _ln_eps(norm_cfg, key, allow_none=True):
    """mmcls's ``norm_cfg=dict(type='LN', eps=...)`` -> eps; None -> None (no norm)."""
    if norm_cfg is None and allow_none:
        return None
    if not (isinstance(norm_cfg, dict) and norm_cfg.get('type') == 'LN'
            and set(norm_cfg) <= {'type', 'eps', 'requires_grad'}
            and norm_cfg.get('requires_grad', True) is True
            and _positive_number(norm_cfg.get('eps', 1e-5))):
        raise ConfigError(f"SwinTransformer {key}={norm_cfg!r}: use dict(type='LN') with an "
                          f"optional eps > 0{' (or None: no norm)' if allow_none else ''}.")
    return float(norm_cfg.get('eps', 1e-5))


def block_cfgs(embed_dims, depths, window_size, pad_small_map, drop_path_rate, attn_drop_rate,
               stage_cfgs):
    """mmcls's top-level keys and ``stage_cfgs`` (a dict for every stage or one per stage) with
    their ``block_cfgs`` (likewise per block) -> ([[BlockCfg] per stage], [PatchMerging
    LayerNorm eps (None: no norm)] per stage). A block's setting wins over its stage's, which
    wins over the top level's, as in mmcls; stochastic depth rises linearly over all blocks."""
    drop_paths = iter(np.linspace(0, drop_path_rate, sum(depths)).tolist())
    stages, merge_eps = [], []
    for i, (key, stage) in enumerate(_per_item(stage_cfgs, len(depths), 'stage_cfgs', 'stage')):
        _known(stage, STAGE_KEYS, key)
        _get(stage, 'with_cp', False, _bool, key, 'True or False')
        window = _get(stage, 'window_size', window_size, _positive_int, key, 'a positive int')
        pad = _get(stage, 'pad_small_map', pad_small_map, _bool, key, 'True or False')
        merge_eps.append(_downsample_eps(stage.get('downsample_cfg', {}), embed_dims * 2 ** i,
                                         key + 'downsample_cfg.'))
        blocks = []
        for j, (bkey, block) in enumerate(_per_item(stage.get('block_cfgs', {}), depths[i],
                                                    key + 'block_cfgs', 'block')):
            _known(block, BLOCK_KEYS, bkey)
            attn = _known(block.get('attn_cfgs', {}), ATTN_KEYS, bkey + 'attn_cfgs.')
            ffn = _known(block.get('ffn_cfgs', {}), FFN_KEYS, bkey + 'ffn_cfgs.')
            _get(block, 'with_cp', False, _bool, bkey, 'True or False')
            blocks.append(BlockCfg(
                window_size=_get(block, 'window_size', window, _positive_int, bkey,
                                 'a positive int'),
                shift=_get(block, 'shift', j % 2 == 1, _bool, bkey, 'True or False'),
                pad_small_map=_get(block, 'pad_small_map', pad, _bool, bkey, 'True or False'),
                hidden_ratio=_get(block, 'ffn_ratio', 4., _positive_number, bkey, 'a number > 0'),
                hidden=_get(ffn, 'feedforward_channels', None,
                            lambda v: v is None or _positive_int(v), bkey + 'ffn_cfgs.',
                            'a positive int'),
                norm_eps=_ln_eps(block.get('norm_cfg', dict(type='LN')), bkey + 'norm_cfg',
                                 allow_none=False),
                qk_scale=_get(attn, 'qk_scale', None, lambda v: v is None or _positive_number(v),
                              bkey + 'attn_cfgs.', 'None or a number > 0'),
                attn_drop=_get(attn, 'attn_drop', attn_drop_rate, _rate, bkey + 'attn_cfgs.',
                               'in [0, 1)'),
                proj_drop=_get(attn, 'proj_drop', 0., _rate, bkey + 'attn_cfgs.', 'in [0, 1)'),
                ffn_drop=_get(ffn, 'ffn_drop', 0., _rate, bkey + 'ffn_cfgs.', 'in [0, 1)'),
                drop_path=next(drop_paths)))
        stages.append(blocks)
    return stages, merge_eps


def _downsample_eps(cfg, dim, key):
    """mmcv PatchMerging's keys: only its norm's eps may differ from Swin's 2x2, dim -> 2 dim."""
    _known(cfg, ('in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation',
                 'bias', 'norm_cfg'), key, MERGE_FIXED)
    _get(cfg, 'in_channels', dim, lambda v: v == dim, key, f'{dim} (the stage width)')
    _get(cfg, 'out_channels', 2 * dim, lambda v: v == 2 * dim, key,
         f'{2 * dim} (twice the stage width)')
    return _ln_eps(cfg.get('norm_cfg', dict(type='LN')), key + 'norm_cfg')


def _patch_size(patch_size, patch_cfg):
    """``patch_size``, or ``patch_cfg``'s kernel_size = stride (mmcls's override)."""
    if not isinstance(patch_cfg, dict):
        raise ConfigError(f"SwinTransformer patch_cfg must be a dict, got {patch_cfg!r}.")
    kernel = patch_cfg.get('kernel_size', patch_size)
    stride = patch_cfg.get('stride', kernel if 'kernel_size' in patch_cfg else patch_size)
    if not (_positive_int(kernel) and kernel == stride):
        raise ConfigError(f"SwinTransformer patch_size={patch_size!r} (patch_cfg kernel_size="
                          f"{kernel!r}, stride={stride!r}): must be one positive int, the "
                          "kernel and stride of non-overlapping patches.")
    return kernel


def _patch_options(patch_cfg, in_channels, img_size, embed_dims):
    """mmcv PatchEmbed's keys in ``patch_cfg`` -> (norm eps or None, conv bias)."""
    key = 'patch_cfg.'
    _known(patch_cfg, ('in_channels', 'input_size', 'embed_dims', 'conv_type', 'kernel_size',
                       'stride', 'padding', 'dilation', 'bias', 'norm_cfg'), key)
    for name, value in (('in_channels', in_channels), ('input_size', img_size),
                        ('embed_dims', embed_dims)):
        _get(patch_cfg, name, value, lambda v, value=value: v == value, key,
             f'{value!r} (set it as the backbone\'s {name.replace("input_size", "img_size")})')
    bias = patch_cfg.get('bias', True)
    if not _bool(bias):
        raise ConfigError(f"SwinTransformer patch_cfg.bias={bias!r}: must be True or False.")
    return _ln_eps(patch_cfg.get('norm_cfg', dict(type='LN')), key + 'norm_cfg'), bias


def _check_args(num_stages, out_indices, frozen_stages, values):
    """Every unsupported value is a ConfigError naming the argument (``spec`` checks the rest);
    ``values``: name -> (value, test, what it must be)."""
    last = num_stages - 1
    indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
    if indices not in ((last,), (-1,)):
        raise ConfigError(f"SwinTransformer supports out_indices=({last},) (or (-1,)) only, got "
                          f"{out_indices!r}: the backbone returns the last stage's map.")
    if not (isinstance(frozen_stages, int) and -1 <= frozen_stages <= last):
        raise ConfigError(f"SwinTransformer frozen_stages must be an int in -1..{last}, got "
                          f"{frozen_stages!r}.")
    for name, (value, ok, need) in values.items():
        _get({name: value}, name, None, ok, '', need)


# ---------------------------------------------------------------------------------------------
# PyTorch state dicts -> our names

def swin_param_names(arch='tiny'):
    """Our parameter names for ``arch`` (backbone + ``classifier.weight/bias``), in order."""
    _, depths, _ = arch_setting(arch)
    names = ['patch_embed.proj.weight', 'patch_embed.proj.bias',
             'patch_embed.norm.gamma', 'patch_embed.norm.beta']
    for i, depth in enumerate(depths):
        for j in range(depth):
            p = f'layers.{i}.blocks.{j}.'
            names += [p + 'norm1.gamma', p + 'norm1.beta']
            names += [f'{p}attn.{n}.{t}' for n in ('q', 'k', 'v') for t in ('weight', 'bias')]
            names += [p + 'attn.relative_bias.relative_position_bias_table',
                      p + 'attn.proj.weight', p + 'attn.proj.bias',
                      p + 'norm2.gamma', p + 'norm2.beta',
                      p + 'mlp.fc1.weight', p + 'mlp.fc1.bias',
                      p + 'mlp.fc2.weight', p + 'mlp.fc2.bias']
        if i < len(depths) - 1:
            names += [f'layers.{i}.downsample.norm.gamma', f'layers.{i}.downsample.norm.beta',
                      f'layers.{i}.downsample.reduction.weight']
    return names + ['norm.gamma', 'norm.beta', 'classifier.weight', 'classifier.bias']


SKIPPED_BUFFERS = ('relative_position_index', 'attn_mask')  # rebuilt here, never loaded
_DOWNSAMPLE = re.compile(r'^layers\.(\d+)\.downsample\.')
_NORM = re.compile(r'(^|\.)norm\d*\.(weight|bias)$')


def _to_numpy(value):
    if hasattr(value, 'detach'):  # a torch tensor; bf16/fp16 go through float32
        value = value.detach().cpu()
        value = (value.float() if value.is_floating_point() else value).numpy()
    value = np.asarray(value)
    return value.astype(np.float32) if np.issubdtype(value.dtype, np.floating) else value


def swin_from_torch(state_dict, arch='tiny', **backbone_args):
    """A PyTorch Swin state dict -> ``(params, unexpected)`` for
    ``SwinTransformer(arch=arch, **backbone_args)``.

    ``params`` maps our names (see ``swin_param_names``) to float32 numpy arrays; wrap them in
    ``mindspore.Parameter`` for ``load_param_into_net`` or save them with
    ``mindspore.save_checkpoint``. ``unexpected`` lists the source keys that have no place in
    that network (sorted; empty when everything was used). Three layouts are read:

    - Microsoft's release / timm <= 0.8: ``layers.{i}.downsample`` at the end of stages 0-2,
      ``head.weight``;
    - timm >= 0.9: ``layers.{i}.downsample`` at the start of stages 1-3 (becomes our
      ``layers.{i-1}.downsample``), ``head.fc.weight``; recognised by those keys;
    - mmcls 0.x: ``stages.{i}.blocks.{j}.attn.w_msa.*``, ``ffn.layers.*``, ``norm3``,
      ``head.fc``, with or without the ``backbone.`` prefix; recognised by ``stages.`` keys
      and renamed to Microsoft's (``mmcls_to_microsoft``) first.

    Fused ``attn.qkv`` is split into q, k, v along the output dimension, LayerNorm
    ``weight/bias`` become ``gamma/beta``; the ``relative_position_index`` and ``attn_mask``
    buffers are skipped (they are rebuilt for the configured img_size). An
    ``absolute_pos_embed`` for another number of patches is resized to the configured
    img_size with ``interpolate_mode`` (``resize_pos_embed``). A checkpoint dict with the
    weights under ``'model'`` (the Microsoft release) is unwrapped. Values may be torch tensors
    or numpy arrays. Other shapes are not checked here: a stage whose map is smaller than the
    window has a smaller bias table, so 224px weights do not fit those stages of a model built
    for a smaller img_size (e.g. layers.3 below 224px).
    """
    if isinstance(state_dict.get('model'), dict):
        state_dict = state_dict['model']
    source = {key: key for key in state_dict}
    if any(key.startswith(('stages.', 'backbone.stages.')) for key in state_dict):
        state_dict, source = mmcls_to_microsoft(state_dict, len(arch_setting(arch)[1]))
    with no_init_parameters():  # names and shapes only: no weights drawn
        net = SwinTransformer(arch=arch, **backbone_args)
    expected = {p.name: p.shape for p in net.get_parameters()}
    expected.update({'classifier.weight': None, 'classifier.bias': None})
    last = len(net.layers) - 1
    stages = {int(m.group(1)) for k in state_dict if (m := _DOWNSAMPLE.match(k))}
    downsample_shift = last in stages or (bool(stages) and 0 not in stages)  # timm >= 0.9
    params, unexpected = {}, []
    for key, value in state_dict.items():
        if key.rsplit('.', 1)[-1] in SKIPPED_BUFFERS:
            continue
        for name, array in _rename(key, _to_numpy(value), downsample_shift):
            if name in expected and name not in params:
                params[name] = array
            else:
                unexpected.append(source[key])
                break
    if 'absolute_pos_embed' in params:
        params['absolute_pos_embed'] = resize_pos_embed(
            params['absolute_pos_embed'], net.patch_resolution, net.interpolate_mode)
    return params, sorted(set(unexpected))


#: mmcls 0.x module paths -> Microsoft's (applied in order; ``{last}``: the final stage)
_MMCLS_NAMES = ((r'^patch_embed\.projection\.', 'patch_embed.proj.'),
                (r'^stages\.(\d+)\.', r'layers.\1.'),
                (r'\.attn\.w_msa\.', '.attn.'),
                (r'\.ffn\.layers\.0\.0\.', '.mlp.fc1.'),
                (r'\.ffn\.layers\.1\.', '.mlp.fc2.'),
                (r'^norm{last}\.', 'norm.'))
#: Microsoft's PatchMerging concatenates the 2x2 neighbours (dh, dw) = 00, 10, 01, 11, each C
#: channels; mmcv's nn.Unfold puts channel c's 2x2 together, (dh, dw) = 00, 01, 10, 11
UNFOLD_TO_CONCAT = [0, 2, 1, 3]


def mmcls_to_microsoft(state_dict, num_stages=4):
    """mmcls 0.x's SwinTransformer keys (``backbone.`` prefix optional) -> (Microsoft's keys
    with PatchMerging's reduction / norm channels reordered from mmcv's Unfold order to
    Microsoft's concat order, {new key: source key}). mmcls's ``norm{last}`` (``norm`` before
    its version 2) is the final norm."""
    renames = [(re.compile(old.replace('{last}', str(num_stages - 1))), new)
               for old, new in _MMCLS_NAMES]
    out, source = {}, {}
    for key, value in state_dict.items():
        name = key[len('backbone.'):] if key.startswith('backbone.') else key
        for pattern, new in renames:
            name = pattern.sub(new, name)
        if _DOWNSAMPLE.match(name) and name.endswith(('reduction.weight', 'norm.weight',
                                                      'norm.bias')):
            value = unfold_to_concat(_to_numpy(value))
        out[name], source[name] = value, key
    return out, source


def unfold_to_concat(value):
    """A PatchMerging weight over 4C input channels, mmcv Unfold order (c-major: index
    c * 4 + dh * 2 + dw) -> Microsoft's concat order (index k * C + c, k over 00, 10, 01, 11)."""
    *lead, channels = value.shape
    value = value.reshape(*lead, channels // 4, 4)
    value = np.swapaxes(value, -1, -2)[..., UNFOLD_TO_CONCAT, :]
    return np.ascontiguousarray(value.reshape(*lead, channels))


def resize_pos_embed(pos_embed, dst_shape, mode='bicubic'):
    """A (1, L, C) absolute position embedding over a square sqrt(L) grid (mmcls's assumption
    for a checkpoint's) -> (1, h * w, C) for ``dst_shape`` = (h, w), interpolated as
    ``torch.nn.functional.interpolate(mode=mode, align_corners=False)`` does."""
    _, length, channels = pos_embed.shape
    side = int(round(np.sqrt(length)))
    if (side, side) == tuple(dst_shape):
        return pos_embed
    if side * side != length:
        raise ConfigError(f"absolute_pos_embed of {length} positions is not a square grid; "
                          "it cannot be resized to this img_size.")
    grid = pos_embed.reshape(side, side, channels).astype(np.float64)
    rows, cols = (_interpolation_matrix(side, n, mode) for n in dst_shape)
    out = np.einsum('hy,yxc,wx->hwc', rows, grid, cols)
    return out.reshape(1, -1, channels).astype(np.float32)


def _interpolation_matrix(src, dst, mode):
    """(dst, src) weights of PyTorch's 1-D interpolation with align_corners=False."""
    matrix = np.zeros((dst, src))
    scale = src / dst
    for i in range(dst):
        if mode == 'nearest':
            matrix[i, min(int(np.floor(i * scale)), src - 1)] = 1.0
            continue
        x = (i + 0.5) * scale - 0.5
        if mode == 'bilinear':
            x = max(x, 0.0)
            left = int(np.floor(x))
            t = x - left
            matrix[i, left] += 1 - t
            matrix[i, min(left + 1, src - 1)] += t
            continue
        left = int(np.floor(x))
        t = x - left
        for offset, weight in zip((-1, 0, 1, 2), _cubic_weights(t)):
            matrix[i, min(max(left + offset, 0), src - 1)] += weight
    return matrix


def _cubic_weights(t, a=-0.75):
    """Keys' cubic convolution weights (PyTorch's a = -0.75) of the 4 neighbours at x - t."""
    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _rename(key, value, downsample_shift):
    """One source key -> [(our name, array)] (three for a fused qkv)."""
    name = key
    if downsample_shift and (m := _DOWNSAMPLE.match(name)):
        name = f'layers.{int(m.group(1)) - 1}.downsample.' + name[m.end():]
    name = re.sub(r'^head\.(fc\.)?(weight|bias)$', r'classifier.\2', name)
    name = name.replace('attn.relative_position_bias_table',
                        'attn.relative_bias.relative_position_bias_table')
    if _NORM.search(name):
        name = name[:-len('weight')] + 'gamma' if name.endswith('weight') else \
            name[:-len('bias')] + 'beta'
    if '.attn.qkv.' in name:
        if value.shape[0] % 3:
            return [(key, value)]  # not a fused q/k/v: reported as unexpected
        parts = np.split(value, 3, axis=0)
        return [(name.replace('.qkv.', f'.{n}.'), p) for n, p in zip('qkv', parts)]
    return [(name, value)]
