"""The adapter interface every provider file implements, and what adapters share.

An adapter turns one :class:`ChatRequest` into the provider's wire format and
the provider's answer back into :class:`Completion` or a stream of
:class:`Delta` / :class:`Final` events. Every failure leaves an adapter as an
:class:`UpstreamError`; ``gateway.retry`` decides what to retry and how the
client sees the rest.

Exceptions::

    UpstreamError            one failed upstream exchange
      .status                HTTP status, or None for transport failures
      .kind                  "http" | "timeout" | "connect" | "dropped" | "protocol"
                             | "config" | "blocked" | "busy" (this instance holds
                             too many large answers: ``gateway.answers_held``)
      .retry_after           seconds the provider asked us to wait, if any
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from gateway import answers_held, jsonload, logs, outbound


@dataclass(frozen=True)
class ProviderConfig:
    """A ``providers/{id}`` document, as an adapter needs it."""

    id: str
    type: str
    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    app_url: str | None = None
    app_title: str | None = None
    image_base_url: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    """Hosts besides the provider's own that its key may be sent to (a model's ``endpointURL``)."""


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its name, what it does, and its arguments as a JSON Schema."""

    name: str
    description: str | None
    parameters: dict[str, Any]
    strict: bool | None = None
    """``true``: every call of this tool must match ``parameters`` (the gateway checks it, whatever the provider promises)."""


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for; ``arguments`` is JSON text, exactly as OpenAI's wire format carries it."""

    id: str
    name: str
    arguments: str

    @property
    def input(self) -> Any:
        """The arguments decoded (providers with structured arguments need them); ``{}`` when not JSON."""
        try:
            return jsonload.loads(self.arguments or "{}")
        except ValueError:
            return {}


@dataclass(frozen=True)
class InputImage:
    """An image sent to a model (vision), its type read from its bytes."""

    media_type: str
    data: bytes

    @property
    def b64(self) -> str:
        import base64

        return base64.b64encode(self.data).decode("ascii")

    @property
    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.b64}"


@dataclass(frozen=True)
class Message:
    """One turn: ``system``, ``user`` (maybe with ``images``), ``assistant`` (maybe with ``tool_calls``) or ``tool``."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    images: tuple[InputImage, ...] = ()


@dataclass(frozen=True)
class ToolChoice:
    """``auto``, ``none``, ``required`` (some tool), or ``function`` (the one named)."""

    mode: str
    name: str | None = None


@dataclass(frozen=True)
class ResponseFormat:
    """Structured output: any JSON object (``json_object``) or one matching ``schema`` (``json_schema``)."""

    type: str
    schema: dict[str, Any] | None = None
    name: str = "response"
    strict: bool | None = None
    description: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    """A provider-neutral chat request (``model`` is the provider's model name)."""

    model: str
    messages: list[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    timeout: float = 60.0
    base_url: str | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None

    def tool_name(self, call_id: str | None) -> str:
        """The function a ``tool`` message answers (providers that key results by name, not id)."""
        for message in self.messages:
            for call in message.tool_calls:
                if call.id == call_id:
                    return call.name
        return call_id or "tool"

    @property
    def system(self) -> str | None:
        parts = [m.content for m in self.messages if m.role == "system"]
        return "\n\n".join(parts) if parts else None

    @property
    def turns(self) -> list[Message]:
        return [m for m in self.messages if m.role != "system"]


@dataclass
class Usage:
    """Token counts as OpenAI counts them, whatever the provider's own split (None: the provider did not say)."""

    prompt_tokens: int | None = None
    """Every prompt token, cached or not (Anthropic's cache reads and writes added to its ``input_tokens``)."""
    completion_tokens: int | None = None
    """Every generated token, reasoning included (Gemini's thoughts added to its ``candidatesTokenCount``)."""
    cached_tokens: int | None = None
    """Of ``prompt_tokens``, those read from the provider's prompt cache (priced at ``cachedInputPer1M``)."""
    reasoning_tokens: int | None = None
    """Of ``completion_tokens``, those spent reasoning (billed as output)."""
    cache_write_tokens: int | None = None
    """Of ``prompt_tokens``, those written to the provider's cache (Anthropic); priced as input."""

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    def to_dict(self) -> dict[str, int | None]:
        out = {"promptTokens": self.prompt_tokens, "completionTokens": self.completion_tokens, "totalTokens": self.total_tokens}
        for key, value in (("cachedTokens", self.cached_tokens), ("reasoningTokens", self.reasoning_tokens)):
            if value is not None:  # only when the provider said
                out[key] = value
        return out


def count(value: Any) -> int | None:
    """A provider's token count, or None when it is not a non-negative integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def add_counts(first: Any, *parts: int | None) -> Any:
    """A count made of a provider's partial counts (``parts`` already checked by :func:`count`).

    ``first`` as given when there is nothing to add, or when it is not a count: the ledger then sees what the
    provider sent, and estimates it."""
    if all(p is None for p in parts) or count(first) is None:
        return first
    return first + sum(p for p in parts if p is not None)


@dataclass
class Completion:
    text: str
    finish_reason: str | None
    usage: Usage
    cost: float | None = None
    """What the provider itself says the call cost (USD), when it says."""
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass(frozen=True)
class Delta:
    """A piece of streamed text."""

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a streamed tool call, as OpenAI streams them: the first piece of call ``index`` has its
    ``id`` and ``name``; every piece may carry a fragment of ``arguments`` (JSON text, concatenated)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


def new_call_id() -> str:
    """An id for providers whose calls have none (Gemini, Ollama), in OpenAI's style."""
    import uuid

    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass
class Final:
    """The end of a stream: why it stopped, what it used, what it cost."""

    finish_reason: str | None
    usage: Usage
    cost: float | None = None


@dataclass(frozen=True)
class ImageRequest:
    """A provider-neutral text-to-image request for ``count`` images."""

    model: str
    prompt: str
    width: int
    height: int
    count: int = 1
    negative_prompt: str | None = None
    guidance_scale: float | None = None
    steps: int | None = None
    seed: int | None = None
    timeout: float = 120.0
    base_url: str | None = None


@dataclass(frozen=True)
class Image:
    """Image bytes whose type and size were read from the bytes themselves."""

    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}[self.content_type]


@dataclass(frozen=True)
class EmbedRequest:
    """A provider-neutral embeddings request: texts, or token arrays (``Adapter.embed_tokens``), at most ``embed_batch``."""

    model: str
    inputs: tuple[str, ...] | tuple[tuple[int, ...], ...]
    dimensions: int | None = None
    timeout: float = 60.0
    base_url: str | None = None


@dataclass
class Embeddings:
    """One vector per input, in order; ``usage.prompt_tokens`` None when the provider does not count."""

    vectors: list[list[float]]
    usage: Usage


def vectors_of(items: Any, count: int) -> list[list[float]]:
    """``count`` vectors of numbers from a provider's answer, or a ``protocol`` :class:`UpstreamError` (never a 500)."""
    if not isinstance(items, list) or len(items) != count:
        raise UpstreamError(f"provider answered {len(items) if isinstance(items, list) else 'no'} embeddings for {count} inputs", kind="protocol")
    for vector in items:
        if not isinstance(vector, list) or not vector or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector):
            raise UpstreamError("provider sent an embedding that is not a list of numbers", kind="protocol")
    return [[float(x) for x in vector] for vector in items]


class UpstreamError(Exception):
    def __init__(self, message: str, status: int | None = None, kind: str = "http", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = logs.scrub(message)[:500]
        self.status = status
        self.kind = kind
        self.retry_after = retry_after


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if ms := headers.get("retry-after-ms"):
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_message(body: bytes, fallback: str) -> str:
    """The provider's own error message from a JSON error body, or ``fallback``."""
    try:
        data = jsonload.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:300] or fallback
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("error") or fallback)
        if isinstance(error, str):
            return error
    return fallback


class Adapter:
    """One provider's wire format. Subclasses set ``type`` and implement the four calls."""

    type: ClassVar[str]
    needs_key: ClassVar[bool] = True
    tool_choices: ClassVar[frozenset[str]] = frozenset({"auto", "none", "required", "function"})
    """The ``tool_choice`` modes the provider's API can express; others are refused with a 400."""
    serial_tool_calls: ClassVar[bool] = True
    """Whether ``parallel_tool_calls: false`` can be asked of the provider; if not, it is refused with a 400."""
    json_with_tools: ClassVar[bool] = True
    """Whether structured output and tools can go in one request (not where JSON is emulated with a forced tool)."""
    strict_tools: ClassVar[bool] = False
    """Whether the provider's API takes a tool's ``strict`` (OpenAI's ``tools[].function.strict``): then it is sent.
    Calls of a strict tool are checked by the gateway for every provider (``generation.check_tool_calls``)."""
    zero_top_p: ClassVar[float] = 0.0
    """What ``top_p: 0`` (only the likeliest token) is sent as: 0 where the provider accepts it, else a tiny
    positive value that keeps the same single token (servers such as vLLM and TGI want ``0 < top_p``)."""
    images_per_call: ClassVar[int] = 1
    """How many images one ``generate_images`` call may return (the core splits larger requests)."""
    embeddings: ClassVar[bool] = False
    """Whether the provider has an embeddings API (:meth:`embed`); models of type ``embedding`` on one without it are refused."""
    embed_dimensions: ClassVar[bool] = True
    """Whether ``dimensions`` (a shorter vector) can be asked of the provider; if not, it is refused with a 400."""
    embed_tokens: ClassVar[bool] = False
    """Whether inputs may be token arrays (OpenAI's tokenizer ids), passed through as they are."""
    embed_batch: ClassVar[int] = 2048
    """How many inputs one :meth:`embed` call may carry (the core splits larger requests)."""
    default_hosts: ClassVar[tuple[str, ...]] = ()
    """Hosts the adapter calls when the provider document names none (its key may go there)."""
    list_timeout: float = 10.0
    """Read timeout of discovery and health calls (``health`` lowers it)."""

    def __init__(self, config: ProviderConfig, key: str | None, client: httpx.Client) -> None:
        self.config = config
        self.key = key
        self.client = client
        self._streams: list[httpx.Response] = []
        self.opened = False
        """Whether a stream's request was answered with a success status."""
        self.on_open: Callable[[], None] | None = None
        """Called once a stream's request is answered with a success status (before its first event)."""

    def generate(self, request: ChatRequest) -> Completion:
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> Iterator[Delta | ToolCallDelta | Final]:
        raise NotImplementedError

    def list_models(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def generate_images(self, request: ImageRequest) -> list[Image]:
        """``request.count`` (at most ``images_per_call``) images; providers without images do not override it."""
        raise NotImplementedError

    def embed(self, request: EmbedRequest) -> Embeddings:
        """One vector per input; only adapters that set ``embeddings`` override it."""
        raise NotImplementedError

    def health_check(self) -> None:
        """A call that costs no tokens; raises :class:`UpstreamError` when the provider is not usable."""
        self.list_models()

    def base(self, request: ChatRequest | None = None) -> str:
        return ((request.base_url if request else None) or self.config.base_url).rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def key_hosts(self) -> set[str]:
        """Where the key may go: the provider's own URLs, the adapter's defaults, and the admin's ``allowedHosts``."""
        own = (outbound.host_of(self.config.base_url), outbound.host_of(self.config.image_base_url))
        return {h for h in (*own, *self.default_hosts, *self.config.allowed_hosts) if h}

    def headers(self, url: str) -> dict[str, str]:
        """The provider's headers for a call to ``url``; the key only when ``url`` is on one of :meth:`key_hosts`."""
        if not self.key or outbound.same_host(url, self.key_hosts()):
            return {**self.config.headers, **self.auth_headers()}
        logs.warn("key withheld: URL is not on the provider's host", provider=self.config.id, host=outbound.host_of(url))
        return dict(self.config.headers)

    def check(self, response: httpx.Response) -> None:
        """Raise :class:`UpstreamError` for an error status or a redirect (reading at most 64 KiB of the body)."""
        if 300 <= response.status_code < 400:
            response.close()
            raise UpstreamError(f"provider redirected (HTTP {response.status_code}); redirects are not followed", status=response.status_code)
        if response.status_code < 400:
            return
        body = read_bounded(response, ERROR_BODY_BYTES, truncate=True)
        raise UpstreamError(
            error_message(body, f"HTTP {response.status_code}"),
            status=response.status_code,
            retry_after=parse_retry_after(response.headers),
        )

    def send(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        """Send ``request`` and read its answer, at most ``MAX_BODY_BYTES`` of it (a bigger one is a 502)."""
        with transport_errors(sending=True):
            response = self.client.send(request, stream=True)
        try:
            self.check(response)
            return response, read_bounded(response, MAX_BODY_BYTES)
        finally:
            response.close()

    def build(self, method: str, url: str, **kwargs: Any) -> httpx.Request:
        """``client.build_request``; a URL or header httpx cannot send is a ``config`` :class:`UpstreamError` (a 502), not a 500."""
        return build_request(self.client, method, url, **kwargs)

    def post_json(self, url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        request = self.build("POST", url, json=body, headers=self.headers(url), timeout=_timeout(timeout))
        return decode_json(self.send(request)[1])

    def get_json(self, url: str) -> Any:
        request = self.build("GET", url, headers=self.headers(url), timeout=_timeout(self.list_timeout))
        return decode_json(self.send(request)[1])

    def open_stream(self, url: str, body: dict[str, Any], timeout: float) -> httpx.Response:
        """Send a streaming request; the caller reads and closes the response."""
        request = self.build("POST", url, json=body, headers=self.headers(url), timeout=_timeout(timeout))
        with transport_errors(sending=True):
            response = self.client.send(request, stream=True)
        try:
            self.check(response)
        except BaseException:
            response.close()
            raise
        self._streams.append(response)
        self.opened = True
        if self.on_open is not None:
            self.on_open()
        return response

    def cancel(self) -> None:
        """Close every stream this adapter opened (the client went away); safe from another thread."""
        for response in self._streams:
            response.close()


def _timeout(read: float) -> httpx.Timeout:
    from gateway.upstream import CONNECT_TIMEOUT_SECONDS

    return httpx.Timeout(read, connect=min(read, CONNECT_TIMEOUT_SECONDS))


def decode_json(content: bytes) -> Any:
    try:
        return jsonload.loads(content)
    except jsonload.TooDeep as exc:
        raise UpstreamError(f"provider sent JSON {exc}", status=None, kind="protocol") from None
    except ValueError:
        raise UpstreamError("provider sent malformed JSON", status=None, kind="protocol") from None


MAX_BODY_BYTES = 32 << 20
"""Largest answer read from a provider in one piece (JSON, base64 images, image bytes)."""
MAX_LINE_BYTES = 1 << 20
"""Longest line of a provider's stream (one SSE or NDJSON event)."""
MAX_STREAM_BYTES = 16 << 20
"""Most bytes read from one provider stream; the stream's time is bounded by the route's deadline."""
ERROR_BODY_BYTES = 64 << 10


def read_bounded(response: httpx.Response, limit: int, truncate: bool = False) -> bytes:
    """The (decoded) body, or a ``protocol`` :class:`UpstreamError` once it passes ``limit``; the connection is then closed."""
    chunks: list[bytes] = []
    size = 0
    with transport_errors(), answers_held.reading() as take:
        for chunk in response.iter_bytes():
            try:
                if limit > ERROR_BODY_BYTES:  # an error's few KiB never wait
                    take(len(chunk))  # the instance's budget for answers held at once; this may pause the read
            except answers_held.Exhausted:
                response.close()
                raise UpstreamError("the instance holds too many large answers", kind="busy") from None
            size += len(chunk)
            chunks.append(chunk)
            if size > limit:
                response.close()
                if truncate:
                    return b"".join(chunks)[:limit]
                raise UpstreamError(f"provider answer exceeds {limit} bytes", kind="protocol")
    return b"".join(chunks)


def lines(response: httpx.Response) -> Iterator[str]:
    """The stream's lines (``\\n`` or ``\\r\\n``), each within ``MAX_LINE_BYTES``, all within ``MAX_STREAM_BYTES``."""
    pending = bytearray()
    total = 0
    with transport_errors():
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > MAX_STREAM_BYTES:
                response.close()
                raise UpstreamError(f"provider stream exceeds {MAX_STREAM_BYTES} bytes", kind="protocol")
            pending += chunk
            complete: list[bytes] = []
            if b"\n" in chunk:  # only a new chunk can end a line: no rescans of a long one
                *complete, rest = bytes(pending).split(b"\n")
                pending = bytearray(rest)
            if len(pending) > MAX_LINE_BYTES or any(len(line) > MAX_LINE_BYTES for line in complete):
                response.close()
                raise UpstreamError(f"provider stream has a line longer than {MAX_LINE_BYTES} bytes", kind="protocol")
            for line in complete:
                yield line.removesuffix(b"\r").decode("utf-8", errors="replace")
    if pending:
        yield bytes(pending).removesuffix(b"\r").decode("utf-8", errors="replace")


def build_request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Request:
    """``client.build_request``, with a URL or header httpx refuses (an invalid IDNA host, a non-ASCII
    header value) as a ``config`` :class:`UpstreamError`: a URL typed in the console skips the admin API's checks."""
    try:
        return client.build_request(method, url, **kwargs)
    except (httpx.InvalidURL, UnicodeEncodeError) as exc:
        raise UpstreamError(f"the provider's URL or headers cannot be sent ({type(exc).__name__})", kind="config") from None


UNSENDABLE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
"""httpx refusing to send the request as built: the provider's configuration, not the network, is at fault."""
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
"""While sending, before any response header: the provider closed or reset the connection ("Server disconnected
without sending a response"). A connection failure like a refused connect, so retried (``gateway.retry``)."""


class transport_errors:
    """Map httpx's transport failures to :class:`UpstreamError` (a context manager).

    ``sending``: the block sends a request and waits for the response headers; a
    connection dropped there is ``dropped`` (retried). Dropped mid-body it stays
    ``protocol``: part of the answer was read.
    """

    def __init__(self, sending: bool = False) -> None:
        self.sending = sending

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None or not isinstance(exc, httpx.TransportError):
            return
        from gateway import dialer  # loaded already: the failing call went through it

        if reason := dialer.blocked_reason(exc):
            raise UpstreamError(reason, kind="blocked") from None
        if isinstance(exc, UNSENDABLE):
            raise UpstreamError(f"the provider's URL or headers cannot be sent ({type(exc).__name__})", kind="config") from None
        if self.sending and isinstance(exc, DROPPED):
            raise UpstreamError("provider closed the connection before answering", kind="dropped") from exc
        if isinstance(exc, httpx.TimeoutException):
            kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "timeout"
            raise UpstreamError("provider timed out", kind=kind) from exc
        if isinstance(exc, httpx.ConnectError):
            raise UpstreamError("provider unreachable", kind="connect") from exc
        raise UpstreamError(f"connection to provider failed ({type(exc).__name__})", kind="protocol") from exc


def iter_sse(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """``(event, data)`` pairs of a server-sent event stream; comment lines (``:``) skipped."""
    event, data = "message", []
    for line in lines(response):
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield event, "\n".join(data)


def iter_ndjson(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in lines(response):
        if line.strip():
            yield decode_json(line.encode())


MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png", "PNG"), (b"\xff\xd8\xff", "image/jpeg", "JPEG"))


def image_from_bytes(data: bytes) -> Image:
    """Check that ``data`` is a whole PNG, JPEG or WebP image and read its real size (Pillow).

    Anything else is an :class:`UpstreamError`: it must never be stored.
    """
    kind = next(((mime, fmt) for magic, mime, fmt in MAGIC if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = ("image/webp", "WEBP")
    if kind is None:
        raise UpstreamError("provider sent something that is not a PNG, JPEG or WebP image", kind="protocol")
    import io

    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as decoded:
            if decoded.format != kind[1]:
                raise ValueError(decoded.format)
            decoded.load()
            width, height = decoded.size
    except Exception:
        raise UpstreamError("provider sent a broken or truncated image", kind="protocol") from None
    return Image(data, kind[0], width, height)


def ended_early() -> UpstreamError:
    return UpstreamError("provider stream ended before it finished", kind="protocol")
