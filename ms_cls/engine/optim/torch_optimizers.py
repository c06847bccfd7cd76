"""ms_cls's own AdamW, RMSprop and Lamb, with torch's (and mmcls's) update rules.

MindSpore's cells compute something else: ``nn.AdamWeightDecay`` has no bias correction (its
first steps are about 3x larger than torch's AdamW at the default betas), ``nn.RMSProp`` is
TensorFlow's (mean square starts at 1, eps inside the square root, lr inside the momentum
buffer) and ``nn.Lamb`` has no CPU kernel in MindSpore 2.10 ("Unsupported op [Lamb] on CPU")
and does not clip the global gradient norm (``max_grad_norm``) as mmcls's Lamb (timm's) does.
"""
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops

def _weight_decay_per_param(params, weight_decay):
    """{id(parameter): weight decay} from a parameter list or MindSpore group dicts. Unlike
    MindSpore's default, an ungrouped list decays every parameter (as torch does)."""
    if params and isinstance(params[0], dict):
        table = {}
        for group in params:
            for param in group.get('params', ()):
                table[id(param)] = float(group.get('weight_decay', weight_decay))
        return table
    return {id(p): float(weight_decay) for p in params}


class TorchSemantics(nn.Optimizer):
    """Shared set-up of the optimizers below: per-parameter weight decay as plain numbers
    (the base class's are multiplied by the loss scale), step counting and lr lookup, and the
    gradient clipping of ``optimizer_config.grad_clip`` (``clip_norm`` > 0)."""

    clip_norm = 0.0

    def __init__(self, params, learning_rate, weight_decay, loss_scale):
        params = list(params)
        decay = _weight_decay_per_param(params, weight_decay)
        super().__init__(learning_rate, params, 0.0, loss_scale)
        self.decay = tuple(ms.Tensor(decay[id(p)], ms.float32) for p in self._parameters)
        self.decay_on = tuple(decay[id(p)] > 0 for p in self._parameters)

    def begin_step(self, gradients):
        """Clip (if asked), divide out the loss scale, count the step; -> (gradients, lr)."""
        if self.clip_norm > 0:
            gradients = ops.clip_by_global_norm(gradients, self.clip_norm)
        gradients = self.scale_grad(gradients)
        lr = self.get_lr()
        self.assignadd(self.global_step, self.global_step_increase_tensor)
        return gradients, lr

    def _adam_state(self):
        """Adam's step powers and moments, named as nn.Adam's so that checkpoint loading knows
        them as optimizer state."""
        self.beta1_power = ms.Parameter(ms.Tensor(1.0, ms.float32), name='beta1_power')
        self.beta2_power = ms.Parameter(ms.Tensor(1.0, ms.float32), name='beta2_power')
        self.moment1 = self._parameters.clone(prefix='moment1', init='zeros')
        self.moment2 = self._parameters.clone(prefix='moment2', init='zeros')

_adamw = ops.MultitypeFuncGraph('ms_cls_adamw')
_rmsprop = ops.MultitypeFuncGraph('ms_cls_rmsprop')
_lamb = ops.MultitypeFuncGraph('ms_cls_lamb')
_square_sum = ops.MultitypeFuncGraph('ms_cls_square_sum')


@_adamw.register('Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Bool',
                 'Tensor', 'Tensor', 'Tensor', 'Tensor')
def _adamw_step(beta1, beta2, eps, bias1, bias2_sqrt, lr, decay, decay_on, param, m, v, grad):
    grad = ops.cast(grad, ms.float32)
    weight = ops.cast(param, ms.float32)
    next_m = beta1 * m + (1.0 - beta1) * grad
    next_v = beta2 * v + (1.0 - beta2) * ops.square(grad)
    if decay_on:
        weight = weight * (1.0 - lr * decay)
    weight = weight - (lr / bias1) * next_m / (ops.sqrt(next_v) / bias2_sqrt + eps)
    done = ops.assign(m, next_m)
    done = ops.depend(done, ops.assign(v, next_v))
    return ops.depend(done, ops.assign(param, ops.cast(weight, param.dtype)))


class AdamW(TorchSemantics):
    """torch.optim.AdamW (amsgrad=False): bias-corrected moments and decoupled weight decay,

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        w = w (1 - lr wd) - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    ``params`` and ``learning_rate`` as any MindSpore optimizer (groups with their own 'lr' and
    'weight_decay'); an ungrouped list decays every parameter. ``loss_scale`` divides the
    gradients (a fixed loss scale); the decay is not scaled.
    """

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.01, loss_scale=1.0):
        super().__init__(params, learning_rate, weight_decay, loss_scale)
        self.beta1 = ms.Tensor(beta1, ms.float32)
        self.beta2 = ms.Tensor(beta2, ms.float32)
        self.eps = ms.Tensor(eps, ms.float32)
        self._adam_state()

    @ms.jit
    def construct(self, gradients):
        gradients, lr = self.begin_step(gradients)
        beta1_power = self.beta1_power * self.beta1
        self.beta1_power = beta1_power
        beta2_power = self.beta2_power * self.beta2
        self.beta2_power = beta2_power
        bias1 = 1.0 - beta1_power
        bias2_sqrt = ops.sqrt(1.0 - beta2_power)
        if self.is_group_lr:
            return self.hyper_map(ops.partial(_adamw, self.beta1, self.beta2, self.eps, bias1,
                                              bias2_sqrt),
                                  lr, self.decay, self.decay_on, self._parameters, self.moment1,
                                  self.moment2, gradients)
        return self.hyper_map(ops.partial(_adamw, self.beta1, self.beta2, self.eps, bias1,
                                          bias2_sqrt, lr),
                              self.decay, self.decay_on, self._parameters, self.moment1,
                              self.moment2, gradients)


@_rmsprop.register('Number', 'Tensor', 'Bool', 'Bool', 'Tensor', 'Tensor', 'Tensor', 'Bool',
                   'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor')
def _rmsprop_step(alpha, eps, centered, use_momentum, momentum, lr, decay, decay_on, param,
                  square_avg, grad_avg, buf, grad):
    grad = ops.cast(grad, ms.float32)
    weight = ops.cast(param, ms.float32)
    if decay_on:
        grad = grad + decay * weight
    next_sq = alpha * square_avg + (1.0 - alpha) * ops.square(grad)
    done = ops.assign(square_avg, next_sq)
    if centered:
        next_avg = alpha * grad_avg + (1.0 - alpha) * grad
        done = ops.depend(done, ops.assign(grad_avg, next_avg))
        # clamped: rounding must not make the variance negative (torch would give NaN)
        denom = ops.sqrt(ops.maximum(next_sq - ops.square(next_avg), 0.0)) + eps
    else:
        denom = ops.sqrt(next_sq) + eps
    if use_momentum:
        next_buf = momentum * buf + grad / denom
        done = ops.depend(done, ops.assign(buf, next_buf))
        weight = weight - lr * next_buf
    else:
        weight = weight - lr * grad / denom
    return ops.depend(done, ops.assign(param, ops.cast(weight, param.dtype)))


class RMSprop(TorchSemantics):
    """torch.optim.RMSprop: g += wd w (L2); s = a s + (1 - a) g^2 (s starts at 0);
    centered: d = sqrt(s - avg(g)^2) + eps, else d = sqrt(s) + eps; with momentum
    b = momentum b + g / d, w -= lr b; without, w -= lr g / d.

    ``params``, ``learning_rate``, ``loss_scale`` as in :class:`AdamW`.
    """

    def __init__(self, params, learning_rate=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                 centered=False, weight_decay=0.0, loss_scale=1.0):
        super().__init__(params, learning_rate, weight_decay, loss_scale)
        self.alpha = float(alpha)
        self.eps = ms.Tensor(eps, ms.float32)
        self.momentum = ms.Tensor(momentum, ms.float32)
        self.centered = bool(centered)
        self.use_momentum = momentum > 0
        # torch's square_avg / grad_avg / momentum_buffer, under prefixes that checkpoint
        # loading knows as optimizer state
        self.square_avg = self._parameters.clone(prefix='moment2', init='zeros')
        unused = tuple(ms.Tensor(0.0, ms.float32) for _ in self._parameters)
        self.grad_avg = self._parameters.clone(prefix='moment1', init='zeros') \
            if self.centered else unused
        self.buf = self._parameters.clone(prefix='momentum_buffer', init='zeros') \
            if self.use_momentum else unused

    @ms.jit
    def construct(self, gradients):
        gradients, lr = self.begin_step(gradients)
        if self.is_group_lr:
            return self.hyper_map(ops.partial(_rmsprop, self.alpha, self.eps, self.centered,
                                              self.use_momentum, self.momentum),
                                  lr, self.decay, self.decay_on, self._parameters,
                                  self.square_avg, self.grad_avg, self.buf, gradients)
        return self.hyper_map(ops.partial(_rmsprop, self.alpha, self.eps, self.centered,
                                          self.use_momentum, self.momentum, lr),
                              self.decay, self.decay_on, self._parameters, self.square_avg,
                              self.grad_avg, self.buf, gradients)


@_square_sum.register('Tensor')
def _square_sum_of(grad):
    return ops.reduce_sum(ops.square(ops.cast(grad, ms.float32)))


def _norm(x):
    return ops.sqrt(ops.reduce_sum(ops.square(x)))


@_lamb.register('Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Bool', 'Tensor',
                'Tensor', 'Tensor', 'Bool', 'Tensor', 'Tensor', 'Tensor', 'Tensor')
def _lamb_step(beta1, beta2, grad_weight, eps, bias1, bias2_sqrt, trust_clip, grad_divisor, lr,
               decay, adapt, param, m, v, grad):
    grad = ops.cast(grad, ms.float32) / grad_divisor
    weight = ops.cast(param, ms.float32)
    next_m = beta1 * m + grad_weight * grad
    next_v = beta2 * v + (1.0 - beta2) * ops.square(grad)
    update = (next_m / bias1) / (ops.sqrt(next_v) / bias2_sqrt + eps) + decay * weight
    if adapt:
        w_norm, u_norm = _norm(weight), _norm(update)
        one = ops.ones_like(w_norm)
        ratio = ops.select(w_norm > 0, ops.select(u_norm > 0, w_norm / u_norm, one), one)
        if trust_clip:
            ratio = ops.minimum(ratio, one)
        update = update * ratio
    done = ops.assign(m, next_m)
    done = ops.depend(done, ops.assign(v, next_v))
    return ops.depend(done, ops.assign(param, ops.cast(weight - lr * update, param.dtype)))


class Lamb(TorchSemantics):
    """mmcls's Lamb (timm's, NVIDIA's FusedLamb variant). The gradients are first divided by
    max(1, global L2 norm / ``max_grad_norm``) (None: not clipped); then per parameter

        m = b1 m + (1 - b1) g  (grad_averaging=False: + g);  v = b2 v + (1 - b2) g^2
        u = m / (1 - b1^t) / (sqrt(v) / sqrt(1 - b2^t) + eps) + wd w
        w -= lr * r * u,  r = |w| / |u| (1 where either norm is 0; at most 1 with trust_clip)

    with no bias correction when ``bias_correction`` is False, and r = 1 for parameters whose
    weight decay is 0 (paramwise_cfg's norm/bias multipliers) unless ``always_adapt``.
    ``params``, ``learning_rate``, ``loss_scale`` as in :class:`AdamW`.
    """

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-6,
                 weight_decay=0.01, bias_correction=True, grad_averaging=True, max_grad_norm=1.0,
                 trust_clip=False, always_adapt=False, loss_scale=1.0):
        super().__init__(params, learning_rate, weight_decay, loss_scale)
        self.beta1 = ms.Tensor(beta1, ms.float32)
        self.beta2 = ms.Tensor(beta2, ms.float32)
        self.grad_weight = ms.Tensor(1.0 - beta1 if grad_averaging else 1.0, ms.float32)
        self.eps = ms.Tensor(eps, ms.float32)
        self.bias_correction = bool(bias_correction)
        self.max_grad_norm = ms.Tensor(max_grad_norm or 0.0, ms.float32)
        self.clip_grads = max_grad_norm is not None
        self.trust_clip = bool(trust_clip)
        self.adapt = tuple(on or bool(always_adapt) for on in self.decay_on)
        self._adam_state()

    @ms.jit
    def construct(self, gradients):
        gradients, lr = self.begin_step(gradients)
        one = ms.Tensor(1.0, ms.float32)
        divisor = one
        if self.clip_grads:
            norm = ops.sqrt(ops.addn(self.hyper_map(_square_sum, gradients)))
            divisor = ops.select(norm > self.max_grad_norm, norm / self.max_grad_norm, one)
        beta1_power = self.beta1_power * self.beta1
        self.beta1_power = beta1_power
        beta2_power = self.beta2_power * self.beta2
        self.beta2_power = beta2_power
        bias1, bias2_sqrt = one, one
        if self.bias_correction:
            bias1 = 1.0 - beta1_power
            bias2_sqrt = ops.sqrt(1.0 - beta2_power)
        if self.is_group_lr:
            return self.hyper_map(ops.partial(_lamb, self.beta1, self.beta2, self.grad_weight,
                                              self.eps, bias1, bias2_sqrt, self.trust_clip,
                                              divisor),
                                  lr, self.decay, self.adapt, self._parameters, self.moment1,
                                  self.moment2, gradients)
        return self.hyper_map(ops.partial(_lamb, self.beta1, self.beta2, self.grad_weight,
                                          self.eps, bias1, bias2_sqrt, self.trust_clip, divisor,
                                          lr),
                              self.decay, self.adapt, self._parameters, self.moment1,
                              self.moment2, gradients)
