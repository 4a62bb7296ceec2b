"""onDelete actions of belongsTo relations (cascade, restrict, setNull, setDefault)."""

from __future__ import annotations

import pytest

from manifest_lang.errors import ManifestReferentialRestrictError, ManifestReferentialSetNullError

from .helpers import make_engine

MODEL = """
entity Order {
  property required id: string
  hasMany lines: Line
  command close() {
    emit OrderClosed
  }
}
entity Line {
  property required id: string
  property orderId: string = ""
  belongsTo order: Order onDelete ACTION
  command touch() {
    emit LineTouched
  }
}
event OrderClosed: "order.closed" { id: string }
event LineTouched: "line.touched" { id: string }
store Order in memory
store Line in memory
"""


def _engine(action: str, nullable: bool = False):  # type: ignore[no-untyped-def]
    source = MODEL.replace("ACTION", action)
    if nullable:
        source = source.replace('property orderId: string = ""', "property orderId: string?")
    engine = make_engine(source)
    engine.create_instance("Order", {"id": "o1"})
    engine.create_instance("Order", {"id": "o2"})
    engine.create_instance("Line", {"id": "l1", "orderId": "o1"})
    engine.create_instance("Line", {"id": "l2", "orderId": "o2"})
    return engine


def test_cascade_deletes_dependents_in_the_same_unit_of_work() -> None:
    engine = _engine("cascade")
    assert engine.delete_instance("Order", "o1")
    assert [line["id"] for line in engine.get_all_instances("Line")] == ["l2"]


def test_restrict_refuses_and_deletes_nothing() -> None:
    engine = _engine("restrict")
    with pytest.raises(ManifestReferentialRestrictError, match="REFERENTIAL_RESTRICT: cannot delete Order"):
        engine.delete_instance("Order", "o1")
    assert engine.get_instance("Order", "o1") is not None


def test_set_null_and_set_default() -> None:
    engine = _engine("setNull", nullable=True)
    engine.delete_instance("Order", "o1")
    assert engine.get_instance("Line", "l1")["orderId"] is None
    strict = _engine("setNull")
    with pytest.raises(ManifestReferentialSetNullError):
        strict.delete_instance("Order", "o1")
    defaulted = _engine("setDefault")
    defaulted.delete_instance("Order", "o1")
    assert defaulted.get_instance("Line", "l1")["orderId"] == ""
