"""The language server (``manifest lsp``, extra ``[lsp]``): ``analysis.py`` knows, ``server.py`` talks."""
