"""Swin Transformer backbone (Liu et al. 2021, https://arxiv.org/abs/2103.14030).

Parameter names equal MindCV's ``swintransformer.py`` (``layers.0.blocks.1.attn.q.weight``,
``layers.0.downsample.reduction.weight``, ``norm.gamma``...), so its checkpoints load by name;
``swin_from_torch`` renames Microsoft / timm PyTorch state dicts to the same names.

Everything that depends only on the input size (relative position index, shift masks, padding)
is computed once with numpy for the configured ``img_size`` and held as constant Tensors, not
Parameters: shapes are static per instance, so the network compiles in GRAPH mode, and the
constants are never written to, or required from, a checkpoint. MindCV stores two of them
(``relative_bias.index``, ``attn_mask``) as Parameters; a MindCV checkpoint therefore loads with
those entries reported as unexpected, which is harmless.
"""
import re

import numpy as np
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
from mindspore.common.initializer import TruncatedNormal, initializer

from ..errors import ConfigError
from .contract import BackboneSpec
from .freeze import freeze, norm_eval as eval_norms
from .layers import DropPath

#: arch -> (embed_dims, depths, num_heads), mmcls names and aliases.
ARCH_SETTINGS = {
    'tiny': (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    'small': (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    'base': (128, (2, 2, 18, 2), (4, 8, 16, 32)),
}
ARCH_ALIASES = {'t': 'tiny', 's': 'small', 'b': 'base'}
MASK_VALUE = -100.0  # the original's value for "other region" in shifted windows


def arch_setting(arch):
    """'tiny' / 't' ... -> (embed_dims, depths, num_heads); anything else is a config error."""
    name = ARCH_ALIASES.get(arch, arch) if isinstance(arch, str) else None
    if name not in ARCH_SETTINGS:
        raise ConfigError(f"SwinTransformer arch={arch!r} is not supported; use one of "
                          f"{sorted(ARCH_SETTINGS) + sorted(ARCH_ALIASES)}.")
    return ARCH_SETTINGS[name]


def _dense(in_channels, out_channels, has_bias=True):
    """Dense with the original's init: trunc normal std .02, zero bias."""
    return nn.Dense(in_channels, out_channels, weight_init=TruncatedNormal(0.02),
                    bias_init='zeros', has_bias=has_bias)


def _layer_norm(dim):
    """PyTorch's LayerNorm epsilon (MindSpore's default is 1e-7), so converted weights match."""
    return nn.LayerNorm((dim,), epsilon=1e-5)


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

    def __init__(self, dim, window, num_heads, attn_drop, proj_drop):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
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


class SwinTransformerBlock(nn.Cell):
    """(Shifted) window attention + MLP, both pre-norm residual, for one fixed resolution.

    A map no larger than the window gets one window of its own size and no shift (as the
    original). Otherwise a map that is not a multiple of the window is zero-padded at the
    bottom/right before the roll and partition and cropped afterwards, the shift mask being
    built on the padded size (mmcls ``ShiftWindowMSA``).
    """

    def __init__(self, dim, resolution, num_heads, window_size=7, shift=False, mlp_ratio=4.,
                 drop=0., attn_drop=0., drop_path=0.):
        super().__init__()
        self.height, self.width = resolution
        if min(resolution) <= window_size:
            window_size, shift = min(resolution), False
        self.window = window_size
        self.shift = window_size // 2 if shift else 0
        self.pad_h = (-self.height) % window_size
        self.pad_w = (-self.width) % window_size
        self.padded = (self.height + self.pad_h, self.width + self.pad_w)
        self.norm1 = _layer_norm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, attn_drop, drop)
        self.drop_path = _drop_path(drop_path)
        self.norm2 = _layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
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

    def __init__(self, resolution, dim):
        super().__init__()
        self.height, self.width = resolution
        self.dim = dim
        self.norm = _layer_norm(4 * dim)
        self.reduction = _dense(4 * dim, 2 * dim, has_bias=False)

    def construct(self, x):
        b = x.shape[0]
        h, w = self.height // 2, self.width // 2
        # (b, h, dh, w, dw, C) -> (b, h, w, dw, dh, C): channel blocks (dh, dw) = 00, 10, 01, 11
        x = ops.transpose(ops.reshape(x, (b, h, 2, w, 2, self.dim)), (0, 1, 3, 4, 2, 5))
        return self.reduction(self.norm(ops.reshape(x, (b, h * w, 4 * self.dim))))


class BasicLayer(nn.Cell):
    """One stage: blocks alternating plain / shifted windows, then PatchMerging (stages 0-2)."""

    def __init__(self, dim, resolution, depth, num_heads, window_size, drop_paths, drop,
                 attn_drop, downsample):
        super().__init__()
        self.blocks = nn.CellList([
            SwinTransformerBlock(dim, resolution, num_heads, window_size, shift=i % 2 == 1,
                                 drop=drop, attn_drop=attn_drop, drop_path=drop_paths[i])
            for i in range(depth)])
        self.downsample = PatchMerging(resolution, dim) if downsample else None

    def construct(self, x):
        for block in self.blocks:
            x = block(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return x


class PatchEmbed(nn.Cell):
    """Non-overlapping patch_size x patch_size patches -> tokens (B, H/p * W/p, C), normed."""

    def __init__(self, in_channels, embed_dims, patch_size):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size,
                              pad_mode='valid', has_bias=True)
        self.norm = _layer_norm(embed_dims)

    def construct(self, x):
        x = self.proj(x)
        b, c = x.shape[0], x.shape[1]
        return self.norm(ops.transpose(ops.reshape(x, (b, c, -1)), (0, 2, 1)))


class SwinTransformer(nn.Cell):
    """Swin-T/S/B backbone: images (N, 3, H, W) -> feature map (N, C, H/32, W/32).

    The map is taken after the final LayerNorm ``norm``, so ``GlobalAveragePooling`` +
    ``LinearClsHead`` give the original classifier. Config arguments are mmcls 0.x's; only
    the settings this implementation really has are accepted (``out_indices=(3,)`` or ``(-1,)``).
    ``img_size`` fixes the network's input size: the window masks are built for it.
    """

    def __init__(self, arch='tiny', img_size=224, patch_size=4, in_channels=3, window_size=7,
                 drop_rate=0., attn_drop_rate=0., drop_path_rate=0.1, out_indices=(3,),
                 frozen_stages=-1, norm_eval=False):
        super().__init__()
        embed_dims, depths, num_heads = arch_setting(arch)
        self.spec(arch, img_size, patch_size).apply(self)
        _check_args(window_size, out_indices, frozen_stages,
                    dict(drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                         drop_path_rate=drop_path_rate))
        height, width = self.img_size
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.patch_embed = PatchEmbed(in_channels, embed_dims, patch_size)
        self.pos_drop = _dropout(drop_rate)
        drop_paths = np.linspace(0, drop_path_rate, sum(depths)).tolist()  # stochastic depth
        resolution = (height // patch_size, width // patch_size)
        layers, start = [], 0
        for i, depth in enumerate(depths):
            dim = embed_dims * 2 ** i
            layers.append(BasicLayer(dim, resolution, depth, num_heads[i], window_size,
                                     drop_paths[start:start + depth], drop_rate, attn_drop_rate,
                                     downsample=i < len(depths) - 1))
            start += depth
            if i < len(depths) - 1:
                resolution = (resolution[0] // 2, resolution[1] // 2)
        self.layers = nn.CellList(layers)
        self.out_resolution = resolution
        self.norm = _layer_norm(self.out_channels)
        self._freeze_stages()

    @classmethod
    def spec(cls, arch='tiny', img_size=224, patch_size=4, **_):
        """Width embed_dims * 8; H and W multiples of patch_size * 8 (the patch embedding and
        three 2x patch mergings), and exactly ``img_size``: the window masks are built for it."""
        embed_dims, depths, _ = arch_setting(arch)
        if not (isinstance(patch_size, int) and patch_size > 0):
            raise ConfigError(f"SwinTransformer patch_size must be a positive int, got "
                              f"{patch_size!r}.")
        divisor = patch_size * 2 ** (len(depths) - 1)
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 and s % divisor == 0
                                     for s in size):
            raise ConfigError(f"SwinTransformer img_size={img_size!r}: must be an int or (h, w) "
                              f"of positive multiples of {divisor} (patch_size {patch_size} x 8: "
                              "the patch embedding and three 2x patch mergings).")
        name = ARCH_ALIASES.get(arch, arch)
        return BackboneSpec(f'Swin-{name[0].upper()}', embed_dims * 2 ** (len(depths) - 1),
                            divisor, size)

    def _freeze_stages(self):
        """mmcls: >= 0 freezes patch_embed, then layers 0..frozen_stages; 3 also the final norm."""
        if self.frozen_stages >= 0:
            freeze(self.patch_embed)
        for i in range(self.frozen_stages + 1):
            freeze(self.layers[i])
        if self.frozen_stages >= len(self.layers) - 1:
            freeze(self.norm)
        if self.norm_eval:
            eval_norms(self)  # no BatchNorm in Swin: kept for uniformity with ResNet

    def construct(self, x):
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        h, w = self.out_resolution
        x = ops.reshape(x, (x.shape[0], h, w, self.out_channels))
        return ops.transpose(x, (0, 3, 1, 2))


def _check_args(window_size, out_indices, frozen_stages, rates):
    """Every unsupported value is a ConfigError naming the argument (``spec`` checks the rest)."""
    if not (isinstance(window_size, int) and window_size > 0):
        raise ConfigError(f"SwinTransformer window_size must be a positive int, got "
                          f"{window_size!r}.")
    indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
    if indices not in ((3,), (-1,)):
        raise ConfigError(f"SwinTransformer supports out_indices=(3,) (or (-1,)) only, got "
                          f"{out_indices!r}: the backbone returns the last stage's map.")
    if not (isinstance(frozen_stages, int) and -1 <= frozen_stages <= 3):
        raise ConfigError(f"SwinTransformer frozen_stages must be an int in -1..3, got "
                          f"{frozen_stages!r}.")
    for name, rate in rates.items():
        if not (isinstance(rate, (int, float)) and 0 <= rate < 1):
            raise ConfigError(f"SwinTransformer {name} must be in [0, 1), got {rate!r}.")


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


def swin_from_torch(state_dict, arch='tiny'):
    """A PyTorch Swin state dict -> ``(params, unexpected)``.

    ``params`` maps our names (see ``swin_param_names``) to float32 numpy arrays; wrap them in
    ``mindspore.Parameter`` for ``load_param_into_net`` or save them with
    ``mindspore.save_checkpoint``. ``unexpected`` lists the source keys that have no place in
    Swin-``arch`` (sorted; empty when everything was used). Two layouts are read:

    - Microsoft's release / timm <= 0.8: ``layers.{i}.downsample`` at the end of stages 0-2,
      ``head.weight``;
    - timm >= 0.9: ``layers.{i}.downsample`` at the start of stages 1-3 (becomes our
      ``layers.{i-1}.downsample``), ``head.fc.weight``; recognised by those keys.

    Fused ``attn.qkv`` is split into q, k, v along the output dimension, LayerNorm
    ``weight/bias`` become ``gamma/beta``; the ``relative_position_index`` and ``attn_mask``
    buffers are skipped (they are rebuilt for the configured img_size). A checkpoint dict with
    the weights under ``'model'`` (the Microsoft release) is unwrapped. Values may be torch
    tensors or numpy arrays. Shapes are not checked here: a stage whose map is smaller than the
    window has a smaller bias table, so 224px weights do not fit those stages of a model built
    for a smaller img_size (e.g. layers.3 below 224px).
    """
    if isinstance(state_dict.get('model'), dict):
        state_dict = state_dict['model']
    expected = set(swin_param_names(arch))
    stages = {int(m.group(1)) for k in state_dict if (m := _DOWNSAMPLE.match(k))}
    downsample_shift = 3 in stages or (bool(stages) and 0 not in stages)  # timm >= 0.9
    params, unexpected = {}, []
    for key, value in state_dict.items():
        if key.rsplit('.', 1)[-1] in SKIPPED_BUFFERS:
            continue
        for name, array in _rename(key, _to_numpy(value), downsample_shift):
            if name in expected and name not in params:
                params[name] = array
            else:
                unexpected.append(key)
                break
    return params, sorted(set(unexpected))


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
