"""Pretrained weights from where users keep them: a local file, an https URL, a torchvision or
MindCV model name. ``download`` fetches and caches a file, ``pth`` reads PyTorch checkpoints
without PyTorch, ``sources`` turns any of them into a MindSpore checkpoint of the model."""
