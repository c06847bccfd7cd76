"""What every backbone promises, so that the builder, conversion and export ask it instead of
repeating its numbers.

A backbone class has a classmethod ``spec(**args)`` that takes its config arguments (ignoring
those it does not need) and returns a ``BackboneSpec`` without building anything; a built
backbone has the same facts as attributes (``out_channels``, ``size_divisor``, ``img_size``,
``arch_name``) and maps (N, C, H, W) images to an (N, out_channels, h, w) feature map. A backbone
whose network depends on the input size takes that size as ``img_size`` (mmcls's name).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class BackboneSpec:
    arch_name: str         # 'ResNet-50', 'Swin-T': for messages
    out_channels: int      # channels of the feature map = width of the pooled features
    size_divisor: int = 1  # input H and W must be multiples of this (1: any size)
    img_size: tuple = None  # the (h, w) the network is built for, or None: any size

    def apply(self, backbone):
        """Set the spec's facts as attributes of the built ``backbone``."""
        backbone.arch_name = self.arch_name
        backbone.out_channels = self.out_channels
        backbone.size_divisor = self.size_divisor
        backbone.img_size = self.img_size
