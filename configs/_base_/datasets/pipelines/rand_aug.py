# The seed's "swin-style" RandAugment policies (mmcls rand_increasing_policies, also
# policies='timm_increasing'): AutoContrast, Equalize, Invert, Rotate, Posterize, Solarize,
# SolarizeAdd, ColorTransform, Contrast, Brightness, Sharpness, Shear, Translate.
rand_increasing_policies = [
    dict(type='AutoContrast'),
    dict(type='Equalize'),
    dict(type='Invert'),
    dict(type='Rotate', magnitude_key='angle', magnitude_range=(0, 30)),
    dict(type='Posterize', magnitude_key='bits', magnitude_range=(4, 0)),
    dict(type='Solarize', magnitude_key='thr', magnitude_range=(256, 0)),
    dict(type='SolarizeAdd', magnitude_key='magnitude', magnitude_range=(0, 110)),
    dict(type='ColorTransform', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Contrast', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Brightness', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Sharpness', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Shear', magnitude_key='magnitude', magnitude_range=(0, 0.3),
         direction='horizontal'),
    dict(type='Shear', magnitude_key='magnitude', magnitude_range=(0, 0.3),
         direction='vertical'),
    dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.45),
         direction='horizontal'),
    dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.45),
         direction='vertical'),
]
