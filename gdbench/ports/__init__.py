"""Checking a user's own training code against a port of it: ``gdbench.port``.

The reference is a PyTorch module with its optimizer and loss; each candidate is another
implementation of the same training step (a JAX pytree with an optax transformation,
another PyTorch module). Every implementation starts from the reference's weights and
takes the same batches; the float64 reference is the truth and gdbench's agreement rule
and error budget decide (``judging``); ``stages`` names where a port first departs
(forward output, gradient, or the optimizer's update), ``timing`` times each step.
"""
