"""gdbench in Python: ``run``, ``sweep``, ``compare``, ``gradcheck`` and ``load``, the
engine the command line is a thin layer over. Results are objects (``Result``,
``Comparison``) holding DataFrames, tables and plots."""
