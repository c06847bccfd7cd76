# The demo schedule: 30 short epochs, SGD with one warmup epoch, lr x0.1 at epochs 20 and 26.
optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0005)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[20, 26], warmup='linear', warmup_iters=1,
                 warmup_by_epoch=True, warmup_ratio=0.1)
runner = dict(type='EpochBasedRunner', max_epochs=30)
