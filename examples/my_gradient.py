"""A gdbench plugin: your own problem with your own hand-derived gradient.

    python -m gdbench --plugin examples/my_gradient.py --problem my-linreg
    python -m gdbench gradcheck --plugin examples/my_gradient.py --problem my-linreg

This one carries the teaching notebook's gradient, np.dot(2*X, Y_pred - Y).mean(), so
gdbench reports the numpy run as disagreeing and the gradient check shows it N = 4 times
too large. Replace grad() with (2 / len(y)) * X.T @ (X @ w - y) and both pass.
"""

import numpy as np

import gdbench


class MyLinearRegression(gdbench.Problem):
    name = "my-linreg"
    description = "y = w*x on the notebook's data, with my hand-derived gradient"
    default_lr = 0.01
    default_steps = 20

    def make(self, n_samples=None, features=None, seed=0):
        x = np.array([1.0, 2.0, 3.0, 4.0])
        return gdbench.Instance(
            self.name, w0=np.zeros(1), data={"X": x[:, None], "y": 2 * x}, n_samples=len(x)
        )

    def loss(self, w, X, y):
        # Operators and methods only: numpy, torch and jax all run (and differentiate) it.
        return ((X @ w - y) ** 2).mean()

    def grad(self, w, X, y):
        return np.atleast_1d(np.dot(2 * X[:, 0], X @ w - y).mean())


gdbench.register_problem(MyLinearRegression())
