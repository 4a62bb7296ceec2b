"""Inbound webhooks: one ``POST`` route per ``webhook`` declaration of the model.

A request is handled in this order, so nothing unverified reaches the engine:

1. the raw body is read (size-limited) and, when the webhook declares a ``signature``, verified
   before it is parsed: HMAC-SHA256 with the webhook's secret, in the Stripe scheme
   (``t=<unix>,v1=<hex>`` over ``"<t>.<body>"``, timestamp within the tolerance) or, with
   ``scheme = "hmac"``, a bare hex HMAC of the body (``sha256=`` prefix allowed); constant-time
   comparison either way. A bad or missing signature, or a timestamp outside the tolerance, is
   401 ``INVALID_SIGNATURE``;
2. the body is parsed as JSON and the declared ``transform`` evaluated with ``payload`` (and
   ``headers``, lower-cased) bound; without a transform the payload object is the input;
3. the target command runs in the tenant the configuration maps the webhook to, as the user
   ``webhook:<name>`` (role ``webhook``) with ``context.source = "webhook"``, under the
   idempotency key ``webhook:<name>:<value of the declared idempotencyHeader>``: a duplicate
   delivery answers with the first delivery's result and applies nothing.

Secrets never come from the model (the model names where the secret is, ``secret:
"context.stripeWebhookSecret"``) nor from a request. They come from the webhook configuration
(``create_app(webhooks=...)``, ``manifest serve --webhooks FILE``)::

    [webhooks.StripePayment]
    tenant = "acme"                       # the tenant the command runs in
    secret_env = "STRIPE_WEBHOOK_SECRET"  # or secret = "whsec_..." / secrets = [old, new]
    tolerance = 300                       # seconds (Stripe's default)
    instance = "payload.data.object.metadata.orderId"   # instance of an entity command

or, without any of ``secret``/``secrets``/``secret_env``, from the declared reference: its last
segment looked up in the file's ``[secrets]`` table, then in the environment as UPPER_SNAKE
(``context.stripeWebhookSecret`` -> ``STRIPE_WEBHOOK_SECRET``). A signed webhook whose secret
cannot be found answers 503 ``WEBHOOK_NOT_CONFIGURED`` (it never runs unverified).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..expr.values import UNDEFINED
from ..outbox.signing import DEFAULT_TOLERANCE_SECONDS, verify_plain, verify_timestamped
from ..runtime.codes import ResultCode
from .body import parse_json, read_raw
from .model_index import CommandInfo, ModelIndex
from .problems import ProblemError
from .service import ModelService, RequestMeta

log = logging.getLogger("manifest_lang.http")

SCHEMES = ("stripe", "hmac")
MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """What the configuration says about one webhook."""

    tenant: str | None = None
    secrets: tuple[str, ...] = ()
    scheme: str = "stripe"
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS
    #: dotted path (``payload.…`` or ``input.…``) to the instance id of an entity command
    instance: str | None = None
    user: Mapping[str, Any] | None = None
    #: extra context values the command sees (never the secret)
    context: Mapping[str, Any] = field(default_factory=dict)


def _camel_to_env(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """The server's webhook configuration: settings per webhook name, and shared secrets by the
    name a model's ``secret: "context.<name>"`` refers to."""

    webhooks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> WebhookConfig:
        """From ``{"webhooks": {name: {...}}, "secrets": {...}}`` (a TOML/JSON document);
        ``secret_env`` names are read from ``environ`` (the process environment) now."""
        env = os.environ if environ is None else environ
        tables = data.get("webhooks") or {}
        shared = data.get("secrets") or {}
        if not isinstance(tables, Mapping) or not isinstance(shared, Mapping):
            raise ValueError("webhooks and secrets must be tables/objects")
        if not all(isinstance(v, str) and v for v in shared.values()):
            raise ValueError("every entry of secrets must be a non-empty string")
        out: dict[str, Mapping[str, Any]] = {}
        for name, options in tables.items():
            if not isinstance(options, Mapping):
                raise ValueError(f"webhook {name!r}: its settings must be a table/object")
            entry = dict(options)
            secrets = list(entry.pop("secrets", None) or [])
            if entry.get("secret"):
                secrets.append(entry.pop("secret"))
            secret_env = entry.pop("secret_env", None)
            if secret_env:
                if not env.get(str(secret_env)):
                    raise ValueError(f"webhook {name!r}: environment variable {secret_env} is not set")
                secrets.append(env[str(secret_env)])
            if not all(isinstance(x, str) and x for x in secrets):
                raise ValueError(f"webhook {name!r}: secrets must be non-empty strings")
            entry["secrets"] = secrets
            out[str(name)] = entry
        return cls(out, dict(shared))

    @classmethod
    def load(cls, path: str | Path) -> WebhookConfig:
        """Read a ``.toml`` or ``.json`` configuration file (see the module docstring)."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the configuration must be a table/object")
        return cls.parse(data)

    def settings(self, name: str, declared_secret: str | None) -> WebhookSettings:
        entry = self.webhooks.get(name) or {}
        secrets = tuple(entry.get("secrets") or ())
        if not secrets and declared_secret:
            secrets = self._declared_secret(declared_secret)
        scheme = str(entry.get("scheme") or "stripe")
        if scheme not in SCHEMES:
            raise ValueError(f"webhook {name!r}: scheme must be one of {', '.join(SCHEMES)}")
        tolerance = entry.get("tolerance", DEFAULT_TOLERANCE_SECONDS)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
            raise ValueError(f"webhook {name!r}: tolerance must be a number of seconds")
        tenant, user, context = entry.get("tenant"), entry.get("user"), entry.get("context") or {}
        if (tenant is not None and not isinstance(tenant, str)) or not isinstance(context, Mapping):
            raise ValueError(f"webhook {name!r}: tenant must be a string and context a table")
        return WebhookSettings(
            tenant=tenant,
            secrets=secrets,
            scheme=scheme,
            tolerance_seconds=float(tolerance),
            instance=str(entry["instance"]) if entry.get("instance") else None,
            user=dict(user) if isinstance(user, Mapping) else None,
            context=dict(context),
        )

    def _declared_secret(self, reference: str) -> tuple[str, ...]:
        head, _, rest = reference.partition(".")
        if head == "env" and rest:
            value = os.environ.get(rest)
            return (value,) if value else ()
        key = rest.rsplit(".", 1)[-1] if head == "context" and rest else reference
        found = self.secrets.get(key) or os.environ.get(_camel_to_env(key))
        return (found,) if found else ()


Evaluator = Callable[[dict[str, Any], Any], Any]


@dataclass
class WebhookRoute:
    """One declared webhook, bound to its command and settings."""

    name: str
    path: str
    command: CommandInfo
    signature: Mapping[str, Any] | None
    idempotency_header: str | None
    transform: list[tuple[str, Evaluator]]
    settings: WebhookSettings

    def problem_if_unusable(self) -> str | None:
        """Why this webhook cannot take requests (a configuration fault), or None."""
        if self.signature is None:
            return None
        algorithm = str(self.signature.get("algorithm") or "hmac-sha256").lower()
        if algorithm != "hmac-sha256":
            return f"webhook {self.name}: signature algorithm {algorithm!r} is not supported (hmac-sha256)"
        if not self.settings.secrets:
            return f"webhook {self.name}: no secret configured for {self.signature.get('secret')!r}"
        return None

    def verify(self, raw: bytes, headers: Mapping[str, str], now: float) -> None:
        if self.signature is None:
            return
        header_name = str(self.signature.get("header") or "X-Signature")
        header = headers.get(header_name.lower())
        secrets: list[bytes | str] = list(self.settings.secrets)
        if self.settings.scheme == "hmac":
            check = verify_plain(secrets, raw, header)
        else:
            check = verify_timestamped(
                secrets, raw, header, now=now, tolerance_seconds=self.settings.tolerance_seconds
            )
        if not check.ok:
            raise ProblemError("INVALID_SIGNATURE", f"Webhook {self.name}: {check.reason}")

    def context(self, tenant_path: str | None) -> dict[str, Any]:
        s = self.settings
        context: dict[str, Any] = {
            **s.context,
            "user": dict(s.user) if s.user else {"id": f"webhook:{self.name}", "role": "webhook"},
            "source": "webhook",
            "webhookName": self.name,
        }
        if s.tenant is not None:
            context["tenantId"] = s.tenant
            if tenant_path and tenant_path not in ("context.tenantId", "tenantId"):
                _set_path(context, tenant_path, s.tenant)
        return context

    def input_of(self, payload: Any, headers: Mapping[str, str], run: Any) -> dict[str, Any]:
        if not self.transform:
            if not isinstance(payload, dict):
                raise ProblemError("INVALID_INPUT", f"Webhook {self.name}: the payload must be a JSON object")
            return payload
        scope = {"payload": payload, "headers": dict(headers)}
        out: dict[str, Any] = {}
        for name, fn in self.transform:
            try:
                value = fn(dict(scope), run)
            except Exception as exc:  # a payload the transform cannot read is the sender's fault
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                raise ProblemError(
                    "INVALID_INPUT", f"Webhook {self.name}: transform {name}: {message}"
                ) from None
            if value is not UNDEFINED:
                out[name] = value
        return out

    def instance_of(self, payload: Any, data: Mapping[str, Any]) -> str | None:
        if not self.command.entity or self.command.allocating:
            return None
        path = self.settings.instance
        value: Any = data.get("id") if path is None else _dig({"payload": payload, "input": data}, path)
        if value is None or isinstance(value, dict | list | bool):
            where = f"at {path}" if path else "(no 'id' in the input; configure instance = 'payload.…')"
            raise ProblemError(
                "INVALID_INPUT",
                f"Webhook {self.name}: {self.command.entity}.{self.command.name} "
                f"needs an instance id {where}",
            )
        return str(value)


def _dig(root: Mapping[str, Any], path: str) -> Any:
    node: Any = root
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _set_path(context: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    if parts[0] == "context":
        parts = parts[1:]
    node = context
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = dict(child) if isinstance(child, Mapping) else {}
        node = child
    if parts:
        node[parts[-1]] = value


def build_webhooks(compiled: Any, index: ModelIndex, config: WebhookConfig | None) -> list[WebhookRoute]:
    """The routes of the model's webhook declarations (unknown targets are left out, logged)."""
    config = config or WebhookConfig()
    routes: list[WebhookRoute] = []
    for decl in index.ir.get("webhooks") or []:
        command = _command_of(index, decl)
        path = str(decl.get("path") or "")
        if command is None or not path.startswith("/") or "{" in path:
            log.warning(
                "webhook %s: no route (target %s, path %r)", decl.get("name"), decl.get("command"), path
            )
            continue
        signature = decl.get("signature")
        transform = [(str(t["name"]), compiled.compile(t["expression"])) for t in decl.get("transform") or []]
        settings = config.settings(str(decl["name"]), (signature or {}).get("secret"))
        routes.append(
            WebhookRoute(
                name=str(decl["name"]),
                path=path,
                command=command,
                signature=signature,
                idempotency_header=decl.get("idempotencyHeader"),
                transform=transform,
                settings=settings,
            )
        )
    unknown = set(config.webhooks) - {r.name for r in routes}
    if unknown:
        raise ValueError(f"webhook configuration names undeclared webhooks: {', '.join(sorted(unknown))}")
    return routes


def _command_of(index: ModelIndex, decl: Mapping[str, Any]) -> CommandInfo | None:
    entity_name, name = decl.get("entity"), str(decl.get("command") or "")
    if entity_name:
        entity = index.entities.get(str(entity_name))
        return entity.commands.get(name) if entity is not None else None
    return index.global_commands.get(name)


class WebhookHandler:
    """The ASGI endpoint of one webhook route."""

    def __init__(
        self, route: WebhookRoute, service: ModelService, api: Any, clock: Callable[[], float] = time.time
    ) -> None:
        self.route = route
        self.service = service
        self.api = api
        self.clock = clock
        tenant = service.index.ir.get("tenant") or {}
        self.tenant_path: str | None = tenant.get("contextPath")

    async def handle(self, request: Request) -> Response:
        from .routes import json_response

        route = self.route
        unusable = route.problem_if_unusable()
        if unusable is not None:
            log.error("%s", unusable)
            raise ProblemError(
                "WEBHOOK_NOT_CONFIGURED", f"Webhook {route.name} is not configured on this server"
            )
        raw = await read_raw(request, self.api.max_body_bytes)
        headers = {k.lower(): v for k, v in request.headers.items()}
        route.verify(raw, headers, self.clock())
        payload = parse_json(raw)
        key = self._idempotency_key(headers)
        result, code = await self.api._sync(self._run, payload, headers, key)
        if not result.get("success"):
            from .outcomes import problem_for_result

            raise problem_for_result(code, result)
        return json_response(result)

    def _idempotency_key(self, headers: Mapping[str, str]) -> str | None:
        header = self.route.idempotency_header
        if not header:
            return None
        value = headers.get(header.lower(), "").strip()
        if not value:
            raise ProblemError("INVALID_INPUT", f"Webhook {self.route.name}: the {header} header is required")
        if len(value) > MAX_IDEMPOTENCY_KEY or "\x00" in value:
            raise ProblemError("INVALID_INPUT", f"Webhook {self.route.name}: the {header} header is too long")
        return f"webhook:{self.route.name}:{value}"

    def _run(
        self, payload: Any, headers: Mapping[str, str], key: str | None
    ) -> tuple[dict[str, Any], ResultCode | None]:
        route = self.route
        context = route.context(self.tenant_path)
        data = route.input_of(payload, headers, self.service.engine(context).new_execution())
        route.command.validate(data)
        instance_id = route.instance_of(payload, data)
        meta = RequestMeta(
            correlation_id=f"webhook:{route.name}:{key.rsplit(':', 1)[-1]}" if key else None,
            causation_id=f"webhook:{route.name}",
            idempotency_key=key,
        )
        return self.service.run(context, route.command, data, [], meta, instance_id)
