"""Expression evaluation: JavaScript-compatible values, builtins, compilation of IR expressions, budget."""
