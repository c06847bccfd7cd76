# checkpoints: epoch_{n}.ckpt every `interval` epochs (last `max_keep_ckpts` kept),
# latest.ckpt every epoch, best.ckpt at the best validation top-1
checkpoint_config = dict(interval=1, max_keep_ckpts=3)
log_config = dict(interval=100)
load_from = None
resume_from = None
# MindSpore settings
device_target = 'auto'  # Ascend > GPU > CPU, whichever is present
mode = 'graph'          # or 'pynative'
amp_level = 'auto'      # O2 on Ascend/GPU, O0 (fp32) on CPU
loss_scale = 'dynamic'  # used when amp_level is not O0
seed = 0
