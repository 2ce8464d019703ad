"""The shape of a model document: the single source of truth for ``models/{id}``.

:class:`ModelSpec` is what an admin writes (the API forbids unknown fields so
typos fail loudly); :class:`Model` adds what the server stamps.
:func:`model_from_document` reads what may have been typed by hand in the
console: unknown keys are dropped and reported, missing ones take defaults.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, SecretStr, ValidationInfo, computed_field, field_validator

from gateway import outbound, secrets

SLUG = r"^[a-z0-9][a-z0-9._-]{0,63}$"
MAX_TOKENS = 2**31 - 1
"""The most tokens a model's config may name (Firestore stores 64-bit integers; no provider takes more than 32 bits)."""
ModelType = Literal["text", "image", "multimodal", "embedding"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    """Defaults a request may override, and the bounds it may not exceed."""

    temperature: float | None = Field(None, ge=0, le=2)
    maxTokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    maxTokensLimit: int | None = Field(None, ge=1, le=MAX_TOKENS)
    topP: float | None = Field(None, gt=0, le=1)
    systemPrompt: str | None = Field(None, max_length=20_000, description="Sent before every conversation; shown to admins only.")
    timeoutSeconds: float | None = Field(None, gt=0, le=600)
    width: int | None = Field(None, ge=64, le=4096)
    height: int | None = Field(None, ge=64, le=4096)
    steps: int | None = Field(None, ge=1, le=150)
    guidanceScale: float | None = Field(None, ge=0, le=30)


class Pricing(_Strict):
    """Prices in USD; a missing price means unknown, never free."""

    inputPer1M: float | None = Field(None, ge=0)
    cachedInputPer1M: float | None = Field(
        None, ge=0, description="Per 1M prompt tokens read from the provider's cache; missing: priced at inputPer1M (never free)."
    )
    outputPer1M: float | None = Field(None, ge=0)
    perImage: float | None = Field(None, ge=0)

    @field_validator("cachedInputPer1M")
    @classmethod
    def _not_above_input(cls, value: float | None, info: ValidationInfo) -> float | None:
        """A reservation prices every prompt token at ``inputPer1M``: an upper bound only while cache hits cost no more."""
        full = info.data.get("inputPer1M")
        if value is not None and full is not None and value > full:
            raise ValueError("must not be more than inputPer1M")
        return value


class ModelSpec(_Strict):
    """What an admin sets on a model."""

    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=200)
    displayName: str | None = Field(None, max_length=200)
    provider: str = Field(pattern=SLUG)
    type: ModelType = "text"
    endpointURL: HttpUrl | None = Field(None, description="Called instead of the provider's baseUrl; shown to admins only.")
    enabled: bool = True
    config: ModelConfig = Field(default_factory=ModelConfig)
    pricing: Pricing | None = None
    capabilities: list[str] = Field(default_factory=list, max_length=32)
    fallbacks: list[str] = Field(default_factory=list, max_length=5)

    @field_validator("endpointURL")
    @classmethod
    def _callable(cls, value: HttpUrl | None) -> HttpUrl | None:
        if value is not None:
            outbound.check_url(str(value))
        return value

    @field_validator("capabilities")
    @classmethod
    def _capabilities(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item or len(item) > 64:
                raise ValueError("each capability must be 1-64 characters")
        return sorted(set(value))

    @field_validator("fallbacks")
    @classmethod
    def _fallbacks(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(SLUG, item):
                raise ValueError(f"'{item}' is not a model id")
        return value


class Model(ModelSpec):
    """A stored model: the spec plus what the server stamps on every write."""

    org: str | None = Field(None, description="The organisation owning it (orgs/{org}/models/{id}); null: project-wide.")
    createdAt: datetime | None = None
    updatedAt: datetime | None = None
    createdBy: str | None = Field(None, description="The uid that created it; shown to admins only.")
    updatedBy: str | None = Field(None, description="The uid that changed it last; shown to admins only.")

    @property
    def label(self) -> str:
        return self.displayName or self.name

    def public(self, *, admin: bool) -> dict[str, Any]:
        """The JSON a client sees: all of it for an admin; for anyone else, what picking and calling the model needs.

        A system prompt, a private endpoint and admins' uids are an admin's business:
        the prompt may hold instructions a deployment keeps to itself, and the others
        map the infrastructure and the staff.
        """
        data = self.model_dump(mode="json", exclude=None if admin else set(ADMIN_ONLY))
        data["displayName"] = self.label
        data["config"] = self.config.model_dump(mode="json", exclude_none=True, exclude=None if admin else set(ADMIN_ONLY_CONFIG))
        return data


ADMIN_ONLY = ("endpointURL", "createdBy", "updatedBy")
"""Fields of a model only admins see (through the API; firestore.rules let only admins read ``models``)."""
ADMIN_ONLY_CONFIG = ("systemPrompt",)
"""Fields of a model's ``config`` only admins see."""


D = TypeVar("D", bound=BaseModel)
SERVER_FIELDS = frozenset({"createdAt", "updatedAt", "createdBy", "updatedBy"})
MARKER_FIELD = "lastAuditId"


def _known(model: type[BaseModel], data: dict[str, Any], path: str, dropped: list[str]) -> dict[str, Any]:
    """``data`` without the keys ``model`` does not define, recursing into sub-models."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        info = model.model_fields.get(key)
        if info is None:
            dropped.append(path + key)
            continue
        sub = info.annotation
        for candidate in getattr(sub, "__args__", (sub,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel) and isinstance(value, dict):
                value = _known(candidate, value, f"{path}{key}.", dropped)
                break
        out[key] = value
    return out


def model_from_document(doc_id: str, data: dict[str, Any], org: str | None = None) -> tuple[Model, list[str]]:
    """Validate a stored model (of organisation ``org``); returns it and the keys that were ignored.

    Raises ``pydantic.ValidationError`` when a known field holds a bad value.
    """
    return from_document(Model, doc_id, {"name": doc_id, **data}, org)


def from_document(schema: type[D], doc_id: str, data: dict[str, Any], org: str | None = None) -> tuple[D, list[str]]:
    """Validate a stored document against ``schema``, ignoring (and reporting) unknown keys.

    The id and (for a schema with ``org``) the organisation come from the document's path, never from its fields.
    """
    dropped: list[str] = []
    clean = _known(schema, {k: v for k, v in data.items() if k != MARKER_FIELD}, "", dropped)
    clean["id"] = doc_id
    if "org" in schema.model_fields:
        clean["org"] = org
    return schema.model_validate(clean), dropped


ProviderType = Literal["openai-compatible", "openai", "lmstudio", "openrouter", "ollama", "huggingface", "anthropic", "gemini"]
HOSTNAME = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$"
HttpURL = Annotated[
    str, Field(min_length=1, max_length=2048, description="An http(s) URL.", json_schema_extra={"format": "uri"}), AfterValidator(outbound.check_syntax)
]
CallableURL = Annotated[
    str,
    Field(min_length=1, max_length=2048, description="An http(s) URL the gateway calls: no metadata, link-local, loopback or private address.", json_schema_extra={"format": "uri"}),
    AfterValidator(outbound.check_url),
]


HEADER_VALUE = r"^[\x20-\x7e]*$"
"""What an HTTP header value the gateway sends may hold: printable ASCII (httpx refuses anything else)."""

RESERVED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "anthropic-version", "cookie", "host", "content-length", "content-type"}
)


class ProviderSpec(_Strict):
    """What an admin sets on a ``providers/{id}`` document: where the provider is (the gateway names its key's secret)."""

    id: str = Field(pattern=SLUG)
    type: ProviderType
    baseUrl: CallableURL
    displayName: str | None = Field(None, max_length=200)
    enabled: bool = True
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    healthCheckUrl: CallableURL | None = None
    imageBaseUrl: CallableURL | None = None
    appUrl: HttpURL | None = None
    appTitle: str | None = Field(None, max_length=200, pattern=HEADER_VALUE, description="Sent as a header (X-Title): printable ASCII.")
    allowedHosts: list[Annotated[str, Field(pattern=HOSTNAME, max_length=253)]] = Field(
        default_factory=list,
        max_length=20,
        description="Hosts besides baseUrl's and imageBaseUrl's that the provider's key may be sent to (a model's endpointURL).",
    )

    @field_validator("headers")
    @classmethod
    def _no_auth_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header in value.items():
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header '{name}' is set by the gateway and may not be overridden")
            if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", name) or len(header) > 1024 or not re.fullmatch(HEADER_VALUE, header):
                raise ValueError(f"header '{name}' is not a valid header (a value is at most 1024 printable ASCII characters)")
        return value

    @field_validator("appUrl")
    @classmethod
    def _ascii_referer(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(HEADER_VALUE, value):
            raise ValueError("sent as a header (HTTP-Referer): printable ASCII only (percent-encode the rest)")
        return value


KEY_BOUND = ("type", "baseUrl", "imageBaseUrl", "healthCheckUrl", "allowedHosts")
"""The fields saying where and how a provider's key goes (``type`` picks the hosts and headers it is sent to):
changing one needs the key again (or ``apiKey: null``)."""


def key_moved(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The fields of ``KEY_BOUND`` a write changes (empty: the stored key may stay)."""
    return [f for f in KEY_BOUND if (before.get(f) or None) != (after.get(f) or None)]


def key_binding(key: str, provider_id: str, where: Mapping[str, Any]) -> str:
    """An HMAC, keyed with the provider's key itself, of the provider's id and where the key may go (``KEY_BOUND``).

    Stored on the document as ``keyBinding`` whenever a key is stored; the
    gateway sends the key only while the document's addresses still match it.
    Whoever edits the document in the Firestore console without the key (a
    phished console account, a script) cannot make a matching binding, so
    moving a provider elsewhere there leaves its key unused.
    """
    message = json.dumps([provider_id, *((where.get(f) or None) for f in KEY_BOUND)], separators=(",", ":"))
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


class ProviderWrite(ProviderSpec):
    """A create or update body: the spec plus, optionally, the key to store in Secret Manager (never kept here)."""

    apiKey: SecretStr | None = Field(
        None,
        min_length=8,
        max_length=8192,
        description=(
            "Stored in the provider's secret (AI_GATEWAY_PROVIDER_<ID>; an organisation's: AI_GATEWAY_ORG_<ORG>__<ID>), never returned. Required again, or null to drop the "
            "stored key, by an update that changes type, baseUrl, imageBaseUrl, healthCheckUrl or allowedHosts."
        ),
    )

    @field_validator("apiKey")
    @classmethod
    def _ascii_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(HEADER_VALUE, value.get_secret_value()):
            raise ValueError("sent in a header: printable ASCII only")
        return value


class Provider(ProviderSpec):
    """A stored provider: the spec plus what the gateway maintains."""

    org: str | None = Field(None, description="The organisation owning it (orgs/{org}/providers/{id}); null: project-wide.")
    hasKey: bool = False
    keyVersion: str | None = None
    """The Secret Manager version stored last; a change makes every instance read the key anew."""
    keyBinding: str | None = Field(None, exclude=True)
    """:func:`key_binding` of the key stored last and the addresses it was stored for (never in an answer)."""
    healthStatus: str | None = None
    lastHealthCheck: datetime | None = None
    createdAt: datetime | None = None
    updatedAt: datetime | None = None
    createdBy: str | None = None
    updatedBy: str | None = None

    @computed_field(  # type: ignore[prop-decorator]
        description="The Secret Manager secret holding the key: named by the gateway, AI_GATEWAY_PROVIDER_<ID> "
        "(an organisation's provider: AI_GATEWAY_ORG_<ORG>__<ID>)."
    )
    @property
    def secretName(self) -> str:
        return secrets.name_for(self.id, self.org)

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
