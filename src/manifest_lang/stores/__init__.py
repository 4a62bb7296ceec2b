"""Persistence backends behind one small protocol (see ``base``)."""

from __future__ import annotations

from .base import NEW_ROW, RowWrite, Store, StoredRow, UnitOfWork
from .memory import MemoryStore

__all__ = ["NEW_ROW", "MemoryStore", "RowWrite", "Store", "StoredRow", "UnitOfWork"]
