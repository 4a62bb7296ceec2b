"""The catering kitchen of complex-workflows.md, runnable: one module per pattern and best practice."""
