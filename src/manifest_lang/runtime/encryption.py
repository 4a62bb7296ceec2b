"""``encrypted`` properties: stored as an envelope, decrypted on every read inside the runtime.

With an ``encryption_provider`` (``encrypt(plaintext) -> {"ciphertext", "keyId"}``,
``decrypt(ciphertext, key_id) -> plaintext``) the value of an encrypted property is stored as the
JSON string ``{"v":1,"kid":<keyId>,"ct":<ciphertext>}`` (the reference's envelope) whose plaintext
is the JSON of the value, so numbers and objects round-trip. Rows are decrypted when the runtime
reads them from the store and encrypted when a unit of work is built, so expressions, masking and
read policies see plain values and the store only ever holds envelopes.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from ..errors import ManifestError


class EncryptionProvider(Protocol):
    def encrypt(self, plaintext: str) -> dict[str, str]: ...

    def decrypt(self, ciphertext: str, key_id: str) -> str: ...


class EncryptionError(ManifestError):
    code = "ENCRYPTION_ERROR"


class FieldCrypto:
    """Encrypts/decrypts the ``encrypted`` properties of rows, per entity."""

    def __init__(self, provider: EncryptionProvider, fields: dict[str, tuple[str, ...]]) -> None:
        self.provider = provider
        self.fields = fields

    def encrypt_row(self, entity: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
        names = self.fields.get(entity)
        if not names or row is None:
            return row
        out = dict(row)
        for name in names:
            value = out.get(name)
            if value is not None and not _is_envelope(value):
                sealed = self.provider.encrypt(json.dumps(value, separators=(",", ":")))
                envelope = {"v": 1, "kid": sealed["keyId"], "ct": sealed["ciphertext"]}
                out[name] = json.dumps(envelope, separators=(",", ":"))
        return out

    def decrypt_row(self, entity: str, row: dict[str, Any]) -> dict[str, Any]:
        names = self.fields.get(entity)
        if not names:
            return row
        out = row
        for name in names:
            value = row.get(name)
            if isinstance(value, str) and _is_envelope(value):
                envelope = json.loads(value)
                try:
                    plain = self.provider.decrypt(envelope["ct"], envelope["kid"])
                except Exception as exc:  # the provider's failure, named with the field
                    raise EncryptionError(f"cannot decrypt {entity}.{name}: {exc}") from exc
                if out is row:
                    out = dict(row)
                out[name] = json.loads(plain)
        return out


def _is_envelope(value: Any) -> bool:
    return (
        isinstance(value, str)
        and value.startswith('{"v": 1, "kid": ')
        or (isinstance(value, str) and value.startswith('{"v":1,"kid":'))
    )
