# The built-in demo set (scripts/make_demo_data.py): 10 drawn shapes, 64x64 JPEGs, used at 32px.
dataset_type = 'CustomDataset'
data_root = 'data/demo/'
img_norm_cfg = dict(
    mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', size=32, scale=(0.8, 1.0)),
    dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', size=32),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img'])
]
data = dict(
    samples_per_gpu=64,
    workers_per_gpu=2,
    train=dict(
        type=dataset_type,
        data_prefix=data_root + 'train',
        pipeline=train_pipeline),
    val=dict(
        type=dataset_type,
        data_prefix=data_root + 'val',
        pipeline=test_pipeline),
    test=dict(
        type=dataset_type,
        data_prefix=data_root + 'test',
        with_label=False,
        pipeline=test_pipeline))
evaluation = dict(interval=1, metric='accuracy')
