"""A compact PyTorch Swin Transformer, written from the paper for the parity test of ms_cls's.

Module layout (hence state-dict keys) is that of Microsoft's release and timm <= 0.8:
``patch_embed.{proj,norm}``, ``layers.{i}.blocks.{j}.{norm1, attn.qkv,
attn.relative_position_bias_table, attn.proj, norm2, mlp.fc1, mlp.fc2}``,
``layers.{i}.downsample.{norm,reduction}`` at the end of stages 0-2, ``norm``, ``head``.
Eval only (no dropout, no stochastic depth).

Sizes: a stage whose map is no larger than the window uses one window of the map's size and no
shift (the paper's models at 224px); a larger map that is not a multiple of the window is
zero-padded at the bottom/right, rolled, attended, rolled back and cropped, with the shift mask
built on the padded map (mmcls's ShiftWindowMSA).
"""
import torch
import torch.nn.functional as F
from torch import nn

ARCHS = {'tiny': (96, (2, 2, 6, 2), (3, 6, 12, 24))}


def pair_index(window):
    """(w*w, w*w) long: row-major index of (dy + w - 1, dx + w - 1) in a (2w-1, 2w-1) table."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing='ij')
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + window - 1
    dx = xs[:, None] - xs[None, :] + window - 1
    return dy * (2 * window - 1) + dx


def to_windows(x, w):
    """(B, H, W, C) -> (B * H/w * W/w, w*w, C), windows in row-major order."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def from_windows(x, w, b, h, wd):
    c = x.shape[-1]
    x = x.view(b, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, wd, c)


def region_mask(h, wd, w, s):
    """(nW, w*w, w*w): 0 for pairs from the same region of the rolled map, -100 otherwise."""
    labels = torch.zeros(1, h, wd, 1)
    bounds_h = [(0, h - w), (h - w, h - s), (h - s, h)]
    bounds_w = [(0, wd - w), (wd - w, wd - s), (wd - s, wd)]
    label = 0
    for h0, h1 in bounds_h:
        for w0, w1 in bounds_w:
            labels[:, h0:h1, w0:w1] = label
            label += 1
    lab = to_windows(labels, w).squeeze(-1)
    same = lab[:, :, None] == lab[:, None, :]
    return torch.where(same, 0.0, -100.0)


class Attention(nn.Module):
    def __init__(self, dim, heads, window):
        super().__init__()
        self.heads, self.window = heads, window
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.proj = nn.Linear(dim, dim)
        self.register_buffer('relative_position_index', pair_index(window))

    def forward(self, x, mask):
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q * self.scale) @ k.transpose(-1, -2)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        scores = scores + bias.view(n, n, self.heads).permute(2, 0, 1)[None]
        if mask is not None:
            nw = mask.shape[0]
            scores = (scores.view(bw // nw, nw, self.heads, n, n) + mask[None, :, None])
            scores = scores.view(bw, self.heads, n, n)
        out = scores.softmax(-1) @ v
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, res, window, shifted):
        super().__init__()
        self.res = res
        if min(res) <= window:
            window, shifted = min(res), False
        self.window, self.shift = window, (window // 2 if shifted else 0)
        self.pad = ((-res[0]) % window, (-res[1]) % window)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)
        hp, wp = res[0] + self.pad[0], res[1] + self.pad[1]
        mask = region_mask(hp, wp, window, self.shift) if self.shift else None
        self.register_buffer('attn_mask', mask)

    def forward(self, x):
        b, _, c = x.shape
        h, wd = self.res
        y = self.norm1(x).view(b, h, wd, c)
        y = F.pad(y, (0, 0, 0, self.pad[1], 0, self.pad[0]))
        hp, wp = y.shape[1], y.shape[2]
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), (1, 2))
        y = self.attn(to_windows(y, self.window), self.attn_mask)
        y = from_windows(y, self.window, b, hp, wp)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), (1, 2))
        x = x + y[:, :h, :wd].reshape(b, h * wd, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim, res):
        super().__init__()
        self.res = res
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):
        b, _, c = x.shape
        x = x.view(b, self.res[0], self.res[1], c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.reshape(b, -1, 4 * c)))


class Stage(nn.Module):
    def __init__(self, dim, depth, heads, res, window, merge):
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, res, window, j % 2 == 1)
                                    for j in range(depth))
        self.downsample = PatchMerging(dim, res) if merge else None

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed(nn.Module):
    def __init__(self, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class SwinReference(nn.Module):
    def __init__(self, arch='tiny', img_size=224, num_classes=10, patch=4, window=7):
        super().__init__()
        dim, depths, heads = ARCHS[arch]
        self.patch_embed = PatchEmbed(dim, patch)
        res = (img_size // patch, img_size // patch)
        stages = []
        for i, depth in enumerate(depths):
            stages.append(Stage(dim * 2 ** i, depth, heads[i], res, window, i < 3))
            res = (res[0] // 2, res[1] // 2) if i < 3 else res
        self.layers = nn.ModuleList(stages)
        self.norm = nn.LayerNorm(dim * 8)
        self.head = nn.Linear(dim * 8, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        for stage in self.layers:
            x = stage(x)
        return self.head(self.norm(x).mean(1))
