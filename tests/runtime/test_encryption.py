"""``encrypted`` properties: envelopes in the store, plain values inside the runtime."""

from __future__ import annotations

import base64
import json

import pytest

from manifest_lang.runtime.encryption import EncryptionError
from manifest_lang.stores.memory import MemoryStore

from .helpers import make_engine

MODEL = """
entity Patient {
  property required id: string
  property name: string = ""
  property encrypted ssn: string = ""
  property encrypted visits: number = 0
  command visit() {
    guard ssn != ""
    mutate visits = visits + 1
  }
}
store Patient in memory
"""


class Rot:
    """A reversible stand-in for a KMS (base64 with a key id)."""

    def __init__(self) -> None:
        self.broken = False

    def encrypt(self, plaintext: str) -> dict[str, str]:
        return {"ciphertext": base64.b64encode(plaintext.encode()).decode(), "keyId": "k1"}

    def decrypt(self, ciphertext: str, key_id: str) -> str:
        if self.broken:
            raise RuntimeError("key revoked")
        assert key_id == "k1"
        return base64.b64decode(ciphertext).decode()


def test_store_holds_envelopes_and_the_runtime_sees_values() -> None:
    store = MemoryStore()
    provider = Rot()
    engine = make_engine(MODEL, store_provider=store, encryption_provider=provider)
    engine.create_instance("Patient", {"id": "p1", "name": "Ann", "ssn": "123-45-6789"})
    raw = store.load("Patient", "p1")
    assert raw is not None and raw.row["ssn"].startswith('{"v":1,"kid":"k1","ct":')
    assert "123-45" not in json.dumps(raw.row)
    result = engine.run_command("visit", {}, entity_name="Patient", instance_id="p1")
    assert result.success and result.result == 1
    assert engine.get_instance("Patient", "p1")["ssn"] == "123-45-6789"
    assert engine.get_instance("Patient", "p1")["visits"] == 1
    assert json.loads(store.load("Patient", "p1").row["visits"])["v"] == 1  # type: ignore[union-attr]
    # serialize/restore keep the envelopes as they are (no double encryption)
    other = make_engine(MODEL, encryption_provider=provider)
    other.restore(engine.serialize())
    assert other.get_instance("Patient", "p1")["ssn"] == "123-45-6789"
    provider.broken = True
    with pytest.raises(EncryptionError, match="cannot decrypt Patient.ssn"):
        engine.get_instance("Patient", "p1")
