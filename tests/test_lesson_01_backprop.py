"""Lesson 01_backprop: the master earns every point; plausible mistakes lose them."""

import pytest

from tests.lesson_harness import LessonCells, assert_loses_points, standard_tests

pytestmark = pytest.mark.backprop
LESSON = LessonCells("01_backprop")

# (test cell, what the mistake is, [(solution cell, correct text, wrong text), ...])
WRONG = [
    (
        "test_value_mul",
        "= instead of += (a value used twice)",
        [
            (
                "value_class",
                "self.grad += other.data * out.grad",
                "self.grad = other.data * out.grad",
            ),
            (
                "value_class",
                "other.grad += self.data * out.grad",
                "other.grad = self.data * out.grad",
            ),
        ],
    ),
    (
        "test_value_mul",
        "each input gets its own value",
        [
            (
                "value_class",
                "self.grad += other.data * out.grad",
                "self.grad += self.data * out.grad",
            ),
            (
                "value_class",
                "other.grad += self.data * out.grad",
                "other.grad += other.data * out.grad",
            ),
        ],
    ),
    (
        "test_value_mul",
        "forgets the upstream gradient",
        [
            ("value_class", "self.grad += other.data * out.grad", "self.grad += other.data"),
            ("value_class", "other.grad += self.data * out.grad", "other.grad += self.data"),
        ],
    ),
    (
        "test_value_tanh",
        "derivative 1 - t instead of 1 - t**2",
        [
            (
                "value_class",
                "self.grad += (1 - t**2) * out.grad",
                "self.grad += (1 - t) * out.grad",
            ),
        ],
    ),
    (
        "test_value_tanh",
        "forgets the upstream gradient",
        [
            ("value_class", "self.grad += (1 - t**2) * out.grad", "self.grad += 1 - t**2"),
        ],
    ),
    (
        "test_value_backward",
        "depth-first pre-order instead of a topological order",
        [
            (
                "value_class",
                """        order, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)  # after all the values it was made from

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()""",
                """        self.grad = 1.0

        def visit(v):
            v._backward()
            for child in v._prev:
                visit(child)

        visit(self)""",
            ),
        ],
    ),
    (
        "test_value_backward",
        "does not start from grad 1",
        [
            (
                "value_class",
                "        self.grad = 1.0\n        for v in reversed",
                "        for v in reversed",
            ),
        ],
    ),
    (
        "test_value_backward",
        "forward instead of reverse order",
        [
            ("value_class", "for v in reversed(order):", "for v in order:"),
        ],
    ),
    (
        "test_numerical_gradient",
        "one-sided difference",
        [
            (
                "numerical_gradient",
                "grad[index] = (plus - minus) / (2 * h)",
                "grad[index] = (plus - f(x)) / h",
            ),
        ],
    ),
    (
        "test_numerical_gradient",
        "divides by h instead of 2h",
        [
            ("numerical_gradient", "(plus - minus) / (2 * h)", "(plus - minus) / h"),
        ],
    ),
    (
        "test_numerical_gradient",
        "does not put the entry back",
        [
            ("numerical_gradient", "        x[index] = old\n", ""),
        ],
    ),
    (
        "test_linear_forward",
        "forgets the bias",
        [("linear_forward", "out = x @ w + b", "out = x @ w")],
    ),
    (
        "test_linear_forward",
        "subtracts the bias",
        [("linear_forward", "out = x @ w + b", "out = x @ w - b")],
    ),
    (
        "test_linear_forward",
        "a float64 output buffer (fails on float32 inputs)",
        [
            (
                "linear_forward",
                "out = x @ w + b",
                "out = np.dot(x, w, out=np.empty((x.shape[0], w.shape[1]))) + b",
            )
        ],
    ),
    (
        "test_linear_backward",
        "returns a list instead of a tuple",
        [("linear_backward", "return dx, dw, db", "return [dx, dw, db]")],
    ),
    (
        "test_linear_backward",
        "dw into a float64 buffer (fails on float32 inputs)",
        [("linear_backward", "dw = x.T @ dout", "dw = np.dot(x.T, dout, out=np.empty(w.shape))")],
    ),
    (
        "test_linear_backward",
        "dw transposed (dout.T @ x)",
        [("linear_backward", "dw = x.T @ dout", "dw = dout.T @ x")],
    ),
    (
        "test_linear_backward",
        "db not summed over the batch",
        [("linear_backward", "db = dout.sum(axis=0)", "db = dout")],
    ),
    (
        "test_linear_backward",
        "db averaged instead of summed",
        [("linear_backward", "db = dout.sum(axis=0)", "db = dout.mean(axis=0)")],
    ),
    (
        "test_relu_forward",
        "absolute value",
        [("relu_forward", "out = np.maximum(0, x)", "out = np.abs(x)")],
    ),
    (
        "test_relu_forward",
        "changes its input in place",
        [
            ("relu_forward", "out = np.maximum(0, x)", "x[x < 0] = 0\n    out = x"),
        ],
    ),
    (
        "test_relu_forward",
        "returns out without the cache",
        [("relu_forward", "return out, x", "return out")],
    ),
    (
        "test_relu_backward",
        "masks by dout instead of x",
        [("relu_backward", "return dout * (x > 0)", "return dout * (dout > 0)")],
    ),
    (
        "test_relu_backward",
        "forgets dout",
        [("relu_backward", "return dout * (x > 0)", "return (x > 0) * 1.0")],
    ),
    (
        "test_sigmoid_forward",
        "sign error in the exponent",
        [("sigmoid_forward", "np.exp(-x)", "np.exp(x)")],
    ),
    (
        "test_sigmoid_forward",
        "tanh instead of sigmoid",
        [("sigmoid_forward", "1.0 / (1.0 + np.exp(-x))", "np.tanh(x)")],
    ),
    (
        "test_sigmoid_backward",
        "missing the (1 - s) factor",
        [("sigmoid_backward", "dout * s * (1 - s)", "dout * s")],
    ),
    (
        "test_sigmoid_backward",
        "derivative 1 - s",
        [("sigmoid_backward", "dout * s * (1 - s)", "dout * (1 - s)")],
    ),
    (
        "test_softmax_cross_entropy",
        "loss not divided by N",
        [
            (
                "softmax_cross_entropy",
                "loss = -log_probs[np.arange(n), y].mean()",
                "loss = -log_probs[np.arange(n), y].sum()",
            ),
        ],
    ),
    (
        "test_softmax_cross_entropy",
        "gradient not divided by N",
        [
            (
                "softmax_cross_entropy",
                "return float(loss), dscores / n",
                "return float(loss), dscores",
            ),
        ],
    ),
    (
        "test_softmax_cross_entropy",
        "no max subtraction (overflows for large scores)",
        [
            (
                "softmax_cross_entropy",
                "shifted = scores - scores.max(axis=1, keepdims=True)",
                "shifted = scores",
            ),
            (
                "softmax_cross_entropy",
                "log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
                "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))",
            ),
        ],
    ),
    (
        "test_two_layer_net",
        "skips relu_backward",
        [("two_layer_net", "dh = relu_backward(da, cache_relu)", "dh = da")],
    ),
    (
        "test_two_layer_net",
        "hands db2 for b1",
        [("two_layer_net", '"b1": db1', '"b1": db2 * 0 + db1.mean()')],
    ),
    (
        "test_sparse_gradient_check",
        "divides by the numerical gradient only",
        [
            (
                "sparse_gradient_check",
                "max(abs(a) + abs(numerical), 1e-8)",
                "max(abs(numerical), 1e-8)",
            )
        ],
    ),
    (
        "test_sparse_gradient_check",
        "the absolute error",
        [
            (
                "sparse_gradient_check",
                "abs(a - numerical) / max(abs(a) + abs(numerical), 1e-8)",
                "abs(a - numerical)",
            )
        ],
    ),
    (
        "test_sparse_gradient_check",
        "a full numerical gradient, then the entries",
        [
            (
                "sparse_gradient_check",
                "    errors = []\n",
                "    full = numerical_gradient(f, x, h)\n    errors = []\n",
            ),
            (
                "sparse_gradient_check",
                "        numerical = (plus - minus) / (2 * h)\n",
                "        numerical = full[index]\n",
            ),
        ],
    ),
    (
        "test_sparse_gradient_check",
        "no floor in the denominator",
        [
            (
                "sparse_gradient_check",
                "max(abs(a) + abs(numerical), 1e-8)",
                "(abs(a) + abs(numerical))",
            )
        ],
    ),
    (
        "test_sparse_gradient_check",
        "one-sided difference (sparse check)",
        [
            (
                "sparse_gradient_check",
                "        numerical = (plus - minus) / (2 * h)\n",
                "        numerical = (plus - f(x)) / h\n",
            )
        ],
    ),
    (
        "test_sparse_gradient_check",
        "ignores the given h",
        [("sparse_gradient_check", "    errors = []\n", "    h = 1e-5\n    errors = []\n")],
    ),
    (
        "test_answer_backward",
        "the optimizer's job",
        [("answer_backward", 'answer_backward = "b"', 'answer_backward = "a"')],
    ),
    (
        "test_answer_backward",
        "computing the loss",
        [("answer_backward", 'answer_backward = "b"', 'answer_backward = "d"')],
    ),
    (
        "test_answer_chain_rule",
        "sign error",
        [("answer_chain_rule", "2 * (1.5 * -2 - 1) * -2", "-2 * (1.5 * -2 - 1) * -2")],
    ),
    (
        "test_answer_chain_rule",
        "forgets the inner derivative x",
        [("answer_chain_rule", "2 * (1.5 * -2 - 1) * -2", "2 * (1.5 * -2 - 1)")],
    ),
    (
        "test_answer_kink",
        "blames relu_backward",
        [("answer_kink", 'answer_kink = "b"', 'answer_kink = "a"')],
    ),
    (
        "test_answer_kink",
        "blames float64",
        [("answer_kink", 'answer_kink = "b"', 'answer_kink = "c"')],
    ),
    (
        "test_answer_initial_loss",
        "the probability 1/C instead of the loss",
        [("answer_initial_loss", "math.log(100)", "1 / 100")],
    ),
    (
        "test_answer_initial_loss",
        "ln 10 of the digits",
        [("answer_initial_loss", "math.log(100)", "math.log(10)")],
    ),
    (
        "test_answer_initial_loss",
        "log base 2",
        [("answer_initial_loss", "math.log(100)", "math.log2(100)")],
    ),
    ("test_answer_vanishing", "one layer only", [("answer_vanishing", "0.25**10", "0.25")]),
    (
        "test_answer_vanishing",
        "adds instead of multiplies",
        [("answer_vanishing", "0.25**10", "0.25 * 10")],
    ),
]


FIXED_NAMES = [
    "def linear_forward(x, w, b)",
    "def linear_backward(dout, cache)",
    "def relu_forward(x)",
    "def relu_backward(dout, cache)",
    "def sigmoid_forward(x)",
    "def sigmoid_backward(dout, cache)",
    "def softmax_cross_entropy(scores, y)",
    "def numerical_gradient(f, x, h=1e-5)",
    "class Value",
]
# What the visible checks say to each mistake above (a part of the message that names it)
VISIBLE_MESSAGES = {
    "= instead of += (a value used twice)": "accumulate with +=",
    "each input gets its own value": "dc/da = b",
    "forgets the upstream gradient": "times out.grad",
    "derivative 1 - t instead of 1 - t**2": "1 - tanh(x)**2",
    "depth-first pre-order instead of a topological order": "reverse topological order",
    "does not start from grad 1": "backward starts from 1",
    "forward instead of reverse order": "reverse topological order",
    "one-sided difference": "(f(x + h) - f(x - h)) / (2 * h)",
    "divides by h instead of 2h": "(f(x + h) - f(x - h)) / (2 * h)",
    "does not put the entry back": "put each entry back",
    "forgets the bias": "out = x @ w + b",
    "subtracts the bias": "out = x @ w + b",
    "dw transposed (dout.T @ x)": "a transpose missing",
    "db not summed over the batch": "db (it has the shape of b) has shape (5, 3)",
    "db averaged instead of summed": "a sum, not a mean",
    "a float64 output buffer (fails on float32 inputs)": "with float32 inputs",
    "returns a list instead of a tuple": "must return a tuple of 3 values",
    "dw into a float64 buffer (fails on float32 inputs)": "with float32 inputs",
    "returns out without the cache": "must return a tuple of 2 values",
    "absolute value": "max(0, x)",
    "changes its input in place": "changed its input x in place",
    "masks by dout instead of x": "dout where x > 0",
    "forgets dout": "dout where x > 0",
    "sign error in the exponent": "1 / (1 + exp(-x))",
    "tanh instead of sigmoid": "1 / (1 + exp(-x))",
    "missing the (1 - s) factor": "s * (1 - s)",
    "derivative 1 - s": "s * (1 - s)",
    "loss not divided by N": "forgot to divide by N?",
    "gradient not divided by N": "forgot to divide by N?",
    "no max subtraction (overflows for large scores)": "subtract each row's max",
    "skips relu_backward": "relu_backward",
    "hands db2 for b1": "grads['b1']",
    "divides by the numerical gradient only": "divide by the sum of both magnitudes",
    "the absolute error": "divide by the sum of both magnitudes",
    "a full numerical gradient, then the entries": "check only the entries in indices",
    "no floor in the denominator": "keeps it finite",
    "one-sided difference (sparse check)": "2 calls of f each (f(x + h) and f(x - h))",
    "ignores the given h": "use the given h",
}

globals().update(standard_tests(LESSON, WRONG, FIXED_NAMES, VISIBLE_MESSAGES))


def test_numerical_gradient_may_not_call_coursekit():
    outcome = LESSON.run(
        "test_numerical_gradient",
        [
            (
                "numerical_gradient",
                "    grad = np.zeros_like(x, dtype=np.float64)\n",
                "    from coursekit.gradcheck import numerical_gradient as ng\n    return ng(f, x, h)\n",
            )
        ],
    )
    assert_loses_points(outcome, "calls coursekit")
    assert "write it yourself" in str(outcome.error)
