"""Lesson 03_exploding_gradients: the master earns every point; plausible mistakes lose them."""

import pytest

from tests.lesson_harness import LessonCells, standard_tests

pytestmark = pytest.mark.exploding
LESSON = LessonCells("03_exploding_gradients")
SCALE = "    if clip_coef < 1:\n        for g in grads:\n            g.detach().mul_(clip_coef)"
CLAMP = "p.grad.detach().clamp_(-clip_value, clip_value)"
RULE = "not math.isfinite(loss) or not math.isfinite(grad_norm) or grad_norm > threshold"
BN_RUNNING_MEAN = 'momentum * bn_param["running_mean"] + (1 - momentum) * mean'
TORCH_MOMENTUM = '(1 - momentum) * bn_param["running_mean"] + momentum * mean'
BN_TEST_MODE = '        mean, var = bn_param["running_mean"], bn_param["running_var"]\n'
TEST_MODE_UPDATE = (
    '        bn_param["running_mean"] = momentum * mean + (1 - momentum) * x.mean(axis=0)\n'
    '        bn_param["running_var"] = momentum * var + (1 - momentum) * x.var(axis=0)\n'
)
BN_TEST_MODE_BATCH = "        mean, var = x.mean(axis=0), x.var(axis=0)\n"
LN_STATS = "mean = x.mean(axis=1, keepdims=True)\n    var = x.var(axis=1, keepdims=True)"
LN_BACKWARD_MEANS = (
    "mean_dx_hat = dx_hat.mean(axis=1, keepdims=True)\n"
    "    dx = (dx_hat - mean_dx_hat - x_hat * (dx_hat * x_hat).mean(axis=1, keepdims=True))"
)

# (test cell, what the mistake is, [(solution cell, correct text, wrong text), ...])
WRONG = [
    (
        "test_clip_grad_norm",
        "each parameter clipped by its own norm",
        [
            (
                "clip_grad_norm",
                SCALE,
                "    for g in grads:\n        own = g.norm(norm_type)\n        if own > max_norm:\n            g.detach().mul_(max_norm / (own + 1e-6))",
            )
        ],
    ),
    (
        "test_clip_grad_norm",
        "returns the norm after clipping",
        [
            (
                "clip_grad_norm",
                "    return total_norm\n",
                "    return total_norm * min(1.0, clip_coef.item())\n",
            )
        ],
    ),
    (
        "test_clip_grad_norm",
        "scales even below max_norm",
        [("clip_grad_norm", SCALE, "    for g in grads:\n        g.detach().mul_(clip_coef)")],
    ),
    (
        "test_clip_grad_norm",
        "walks the parameters generator twice",
        [
            (
                "clip_grad_norm",
                "        for g in grads:\n            g.detach().mul_(clip_coef)",
                "        for p in parameters:\n            p.grad.detach().mul_(clip_coef)",
            )
        ],
    ),
    (
        "test_clip_grad_norm",
        "sum of the norms instead of the global norm",
        [
            (
                "clip_grad_norm",
                "torch.stack([g.detach().norm(norm_type) for g in grads]).norm(norm_type)",
                "torch.stack([g.detach().norm(norm_type) for g in grads]).sum()",
            )
        ],
    ),
    (
        "test_clip_grad_norm",
        "calls torch's clip_grad_norm_",
        [
            (
                "clip_grad_norm",
                "    grads = [p.grad for p in parameters if p.grad is not None]\n",
                "    return torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type)\n",
            )
        ],
    ),
    (
        "test_clip_grad_value",
        "clips the weights instead of the gradients",
        [("clip_grad_value", CLAMP, "p.detach().clamp_(-clip_value, clip_value)")],
    ),
    (
        "test_clip_grad_value",
        "clips only the positive side",
        [("clip_grad_value", CLAMP, "p.grad.detach().clamp_(max=clip_value)")],
    ),
    (
        "test_clip_grad_value",
        "not in place (result thrown away)",
        [("clip_grad_value", CLAMP, "p.grad.clamp(-clip_value, clip_value)")],
    ),
    (
        "test_is_exploding",
        "checks for NaN only, not inf",
        [
            (
                "is_exploding",
                RULE,
                "math.isnan(loss) or math.isnan(grad_norm) or grad_norm > threshold",
            )
        ],
    ),
    (
        "test_is_exploding",
        "compares the loss with the threshold",
        [
            (
                "is_exploding",
                RULE,
                "not math.isfinite(loss) or not math.isfinite(grad_norm) or loss > threshold",
            )
        ],
    ),
    (
        "test_is_exploding",
        "returns a tensor",
        [
            (
                "is_exploding",
                "    loss, grad_norm = float(loss), float(grad_norm)\n    return bool(",
                "    loss, grad_norm = float(loss), float(grad_norm)\n    return torch.tensor(",
            )
        ],
    ),
    (
        "test_batchnorm_forward",
        "unbiased variance in the normalisation",
        [("batchnorm_forward", "x.var(axis=0)", "x.var(axis=0, ddof=1)")],
    ),
    (
        "test_batchnorm_forward",
        "eps outside the square root",
        [("batchnorm_forward", "np.sqrt(var + eps)", "(np.sqrt(var) + eps)")],
    ),
    (
        "test_batchnorm_forward",
        "torch's momentum convention (weight of the new value)",
        [("batchnorm_forward", BN_RUNNING_MEAN, TORCH_MOMENTUM)],
    ),
    (
        "test_batchnorm_forward",
        "running variance from the biased batch variance",
        [("batchnorm_forward", "unbiased = var * n / (n - 1)", "unbiased = var")],
    ),
    (
        "test_batchnorm_forward",
        "running statistics updated in test mode",
        [("batchnorm_forward", BN_TEST_MODE, BN_TEST_MODE + TEST_MODE_UPDATE)],
    ),
    (
        "test_batchnorm_forward",
        "batch statistics in test mode",
        [("batchnorm_forward", BN_TEST_MODE, BN_TEST_MODE_BATCH)],
    ),
    (
        "test_batchnorm_backward",
        "missing the term of the path through the mean",
        [("batchnorm_backward", "dx_hat - dx_hat.mean(axis=0) - x_hat", "dx_hat - x_hat")],
    ),
    (
        "test_batchnorm_backward",
        "missing the term of the path through the variance",
        [("batchnorm_backward", " - x_hat * (dx_hat * x_hat).mean(axis=0))", ")")],
    ),
    (
        "test_batchnorm_backward",
        "dgamma without x_hat",
        [
            (
                "batchnorm_backward",
                "dgamma = (dout * x_hat).sum(axis=0)",
                "dgamma = dout.sum(axis=0)",
            )
        ],
    ),
    (
        "test_layernorm_forward",
        "layer norm over the batch axis",
        [("layernorm_forward", LN_STATS, LN_STATS.replace("axis=1", "axis=0"))],
    ),
    (
        "test_layernorm_forward",
        "unbiased variance in layer norm",
        [
            (
                "layernorm_forward",
                "x.var(axis=1, keepdims=True)",
                "x.var(axis=1, ddof=1, keepdims=True)",
            )
        ],
    ),
    (
        "test_layernorm_forward",
        "eps outside the square root in layer norm",
        [
            (
                "layernorm_forward",
                'np.sqrt(var + ln_param["eps"])',
                '(np.sqrt(var) + ln_param["eps"])',
            )
        ],
    ),
    (
        "test_layernorm_backward",
        "layer norm backward missing the mean term",
        [("layernorm_backward", "dx_hat - mean_dx_hat - x_hat", "dx_hat - x_hat")],
    ),
    (
        "test_layernorm_backward",
        "layer norm backward with the means over the batch",
        [("layernorm_backward", LN_BACKWARD_MEANS, LN_BACKWARD_MEANS.replace("axis=1", "axis=0"))],
    ),
    (
        "test_layernorm_backward",
        "dgamma summed over the features",
        [
            (
                "layernorm_backward",
                "dgamma = (dout * x_hat).sum(axis=0)",
                "dgamma = (dout * x_hat).sum(axis=1)",
            )
        ],
    ),
    (
        "test_answer_direction",
        "by value",
        [("answer_direction", 'answer_direction = "a"', 'answer_direction = "b"')],
    ),
    (
        "test_answer_direction",
        "both",
        [("answer_direction", 'answer_direction = "a"', 'answer_direction = "c"')],
    ),
    ("test_answer_clipped_component", "not clipped", [("answer_clipped_component", "3 / 5", "3")]),
    (
        "test_answer_clipped_component",
        "divided by the other component",
        [("answer_clipped_component", "3 / 5", "3 / 4")],
    ),
    (
        "test_answer_spectral_radius",
        "adds instead of multiplies",
        [("answer_spectral_radius", "0.9**30", "0.9 * 30")],
    ),
    (
        "test_answer_normalisation",
        "batch norm",
        [("answer_normalisation", 'answer_normalisation = "b"', 'answer_normalisation = "a"')],
    ),
    (
        "test_answer_normalisation",
        "both",
        [("answer_normalisation", 'answer_normalisation = "b"', 'answer_normalisation = "c"')],
    ),
    (
        "test_answer_spectral_radius",
        "one step only",
        [("answer_spectral_radius", "0.9**30", "0.9")],
    ),
]


FIXED_NAMES = [
    "def clip_grad_norm(parameters, max_norm, norm_type=2.0)",
    "def clip_grad_value(parameters, clip_value)",
    "def is_exploding(loss, grad_norm, threshold)",
    "def batchnorm_forward(x, gamma, beta, bn_param)",
    "def batchnorm_backward(dout, cache)",
    "def layernorm_forward(x, gamma, beta, ln_param)",
    "def layernorm_backward(dout, cache)",
]
# What the visible checks say to each mistake above (a part of the message that names it)
VISIBLE_MESSAGES = {
    "each parameter clipped by its own norm": "the norm must be global, over all parameters together",
    "returns the norm after clipping": "before clipping",
    "scales even below max_norm": "scale only when max_norm / (total_norm + 1e-6) is below 1",
    "walks the parameters generator twice": "walk `parameters` once",
    "sum of the norms instead of the global norm": "sqrt of the sum of squares",
    "calls torch's clip_grad_norm_": "calls torch.nn.utils.clip_grad.clip_grad_norm_",
    "clips the weights instead of the gradients": "changed the weights: clip .grad",
    "clips only the positive side": "[-clip_value, clip_value]",
    "not in place (result thrown away)": "in place (.clamp_)",
    "checks for NaN only, not inf": "math.isfinite catches inf",
    "compares the loss with the threshold": "a gradient norm past the threshold",
    "returns a tensor": "must return a Python bool",
    "unbiased variance in the normalisation": "BIASED variance (ddof=0)",
    "eps outside the square root": "eps inside the square root",
    "torch's momentum convention (weight of the new value)": "momentum weighs the OLD value",
    "running variance from the biased batch variance": "UNBIASED batch variance",
    "running statistics updated in test mode": "test mode must not change running_mean",
    "batch statistics in test mode": "in test mode, normalise with running_mean and running_var",
    "missing the term of the path through the mean": "path through the batch mean",
    "missing the term of the path through the variance": "path through the batch variance",
    "dgamma without x_hat": "sum of dout * x_hat",
    "layer norm over the batch axis": "over its D features, axis=1",
    "unbiased variance in layer norm": "BIASED variance",
    "eps outside the square root in layer norm": "eps inside the square root",
    "layer norm backward missing the mean term": "path through the mean over axis 1",
    "layer norm backward with the means over the batch": "path through the mean over axis 1",
    "dgamma summed over the features": "must have gamma's shape",
}

globals().update(standard_tests(LESSON, WRONG, FIXED_NAMES, VISIBLE_MESSAGES))


def test_canonical_clipping_snippet_is_in_the_lesson():
    import json

    from autograder.course import Course

    text = Course().master("03_exploding_gradients").read_text()
    sources = ["".join(c["source"]) for c in json.loads(text)["cells"]]
    assert any(
        "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)" in s for s in sources
    )
