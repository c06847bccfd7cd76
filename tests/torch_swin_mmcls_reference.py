"""A compact PyTorch Swin Transformer in mmcls 0.25's module layout, for the parity test of
ms_cls's conversion of mmcls checkpoints; written here from the semantics of mmcls's
SwinTransformer, ShiftWindowMSA, FFN and mmcv's PatchEmbed / PatchMerging.

State-dict keys are mmcls's: ``patch_embed.{projection,norm}``, ``absolute_pos_embed``,
``stages.{i}.blocks.{j}.{norm1, attn.w_msa.{qkv, relative_position_bias_table, proj},
norm2, ffn.layers.0.0, ffn.layers.1}``, ``stages.{i}.downsample.{norm,reduction}``,
``norm{last}``, ``head.fc``. What differs from Microsoft's layout besides names:

- PatchMerging gathers each 2x2 neighbourhood with ``F.unfold``, whose 4C channels are
  channel-major (c's four neighbours together), not the concat of four C-channel maps;
- windows are never shrunk to a small map: a map as large as the window is not shifted unless
  ``pad_small_map``, a smaller one needs ``pad_small_map`` (padded to the window, shifted);
- the shift mask is built at every forward for the padded map, and the absolute position
  embedding is resized (bicubic) to the input's patch grid when that differs.
Eval only (no dropout, no stochastic depth).
"""
import torch
import torch.nn.functional as F
from torch import nn

from torch_swin_reference import Attention as WindowMSA  # mmcls's WindowMSA: the same maths
from torch_swin_reference import from_windows, region_mask, to_windows


class ShiftWindowMSA(nn.Module):
    def __init__(self, dim, heads, window, shifted, pad_small_map):
        super().__init__()
        self.window, self.shift, self.pad_small_map = window, window // 2 if shifted else 0, \
            pad_small_map
        self.w_msa = WindowMSA(dim, heads, window)

    def forward(self, x, hw):
        b, _, c = x.shape
        h, wd = hw
        w, shift = self.window, self.shift
        if min(h, wd) == w and not self.pad_small_map:
            shift = 0
        assert min(h, wd) >= w or self.pad_small_map, 'mmcls needs pad_small_map here'
        y = F.pad(x.view(b, h, wd, c), (0, 0, 0, (-wd) % w, 0, (-h) % w))
        hp, wp = y.shape[1], y.shape[2]
        mask = None
        if shift:
            y = torch.roll(y, (-shift, -shift), (1, 2))
            mask = region_mask(hp, wp, w, shift)
        y = from_windows(self.w_msa(to_windows(y, w), mask), w, b, hp, wp)
        if shift:
            y = torch.roll(y, (shift, shift), (1, 2))
        return y[:, :h, :wd].reshape(b, h * wd, c)


class FFN(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, hidden), nn.GELU(),
                                                  nn.Dropout(0.)),
                                    nn.Linear(hidden, dim), nn.Dropout(0.))

    def forward(self, x, identity):
        return identity + self.layers(x)


class SwinBlock(nn.Module):
    def __init__(self, dim, heads, window, shifted, pad_small_map):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ShiftWindowMSA(dim, heads, window, shifted, pad_small_map)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FFN(dim, 4 * dim)

    def forward(self, x, hw):
        x = x + self.attn(self.norm1(x), hw)
        return self.ffn(self.norm2(x), identity=x)


class PatchMerging(nn.Module):
    """mmcv's: F.unfold over 2x2, stride 2 -> LayerNorm(4C) -> Linear(4C, 2C, no bias)."""

    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x, hw):
        b, _, c = x.shape
        x = x.view(b, hw[0], hw[1], c).permute(0, 3, 1, 2)
        x = F.unfold(x, kernel_size=2, stride=2).transpose(1, 2)
        return self.reduction(self.norm(x)), (hw[0] // 2, hw[1] // 2)


class SwinBlockSequence(nn.Module):
    def __init__(self, dim, depth, heads, window, merge, pad_small_map):
        super().__init__()
        self.blocks = nn.ModuleList(SwinBlock(dim, heads, window, j % 2 == 1, pad_small_map)
                                    for j in range(depth))
        self.downsample = PatchMerging(dim) if merge else None

    def forward(self, x, hw):
        for block in self.blocks:
            x = block(x, hw)
        return self.downsample(x, hw) if self.downsample is not None else (x, hw)


class PatchEmbed(nn.Module):
    def __init__(self, dim, patch):
        super().__init__()
        self.projection = nn.Conv2d(3, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.projection(x)
        return self.norm(x.flatten(2).transpose(1, 2)), x.shape[2:]


class Head(nn.Module):
    def __init__(self, dim, num_classes):
        super().__init__()
        self.fc = nn.Linear(dim, num_classes)


class MmclsSwinReference(nn.Module):
    """``windows``: one window size per stage (mmcls's stage_cfgs / block_cfgs window_size)."""

    def __init__(self, embed_dims, depths, heads, windows, img_size=224, num_classes=10, patch=4,
                 pad_small_map=False, use_abs_pos_embed=False):
        super().__init__()
        self.patch_embed = PatchEmbed(embed_dims, patch)
        self.grid = (img_size // patch, img_size // patch)
        self.absolute_pos_embed = None
        if use_abs_pos_embed:
            self.absolute_pos_embed = nn.Parameter(
                torch.zeros(1, self.grid[0] * self.grid[1], embed_dims))
        last = len(depths) - 1
        self.stages = nn.ModuleList(
            SwinBlockSequence(embed_dims * 2 ** i, depth, heads[i], windows[i], i < last,
                              pad_small_map) for i, depth in enumerate(depths))
        self.add_module(f'norm{last}', nn.LayerNorm(embed_dims * 2 ** last))
        self.final_norm = f'norm{last}'
        self.head = Head(embed_dims * 2 ** last, num_classes)

    def forward(self, x):
        x, hw = self.patch_embed(x)
        if self.absolute_pos_embed is not None:
            pos = self.absolute_pos_embed
            if tuple(hw) != self.grid:
                grid = pos.reshape(1, *self.grid, -1).permute(0, 3, 1, 2)
                grid = F.interpolate(grid, size=tuple(hw), mode='bicubic', align_corners=False)
                pos = grid.flatten(2).transpose(1, 2)
            x = x + pos
        for stage in self.stages:
            x, hw = stage(x, hw)
        return self.head.fc(getattr(self, self.final_norm)(x).mean(1))
