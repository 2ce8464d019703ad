"""The shapes of what the gateway answers, as pydantic models.

The handlers build their answers as plain dicts (no validation cost on the
hot path); these models describe them for clients: ``scripts/client_types.py``
turns them, with the request models, into the web client's TypeScript types
(``web/src/gateway/types.d.ts``), and ``tests/test_web_client.py`` validates
real answers against them with ``extra="forbid"``, so a field added to an
answer without its model here fails a test, and a field added here changes
the client's types.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import Model, Provider


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenUsage(_Answer):
    """Token counts; null when the provider did not say (never a fake 0)."""

    promptTokens: int | None
    completionTokens: int | None
    totalTokens: int | None
    cachedTokens: int | None = Field(None, description="Of promptTokens, those read from the provider's prompt cache; present when the provider says.")
    reasoningTokens: int | None = Field(None, description="Of completionTokens, those spent reasoning (billed as output); present when the provider says.")


class TextCost(_Answer):
    """USD cost of a text answer, from the model's pricing or the provider's own figure."""

    input: float | None
    output: float | None
    total: float
    currency: Literal["USD"]
    source: Literal["pricing", "provider"]


class _TextOutcome(_Answer):
    modelId: str
    provider: str
    finishReason: str | None
    usage: TokenUsage
    cost: TextCost | None
    latencyMs: float


class ToolCallOut(_Answer):
    """A call the model asks the app to make; ``arguments`` is JSON text."""

    id: str
    name: str
    arguments: str


class TextAnswer(_TextOutcome):
    """``POST generate_text`` without ``stream``."""

    text: str
    toolCalls: list[ToolCallOut] | None = None
    conversationId: str | None = Field(None, description="The conversation this exchange belongs to, when history is used.")


class StreamDelta(_Answer):
    """One ``data:`` event of a ``generate_text`` stream: the next piece of text."""

    content: str


class StreamToolCallPiece(_Answer):
    """A piece of tool call ``index``: ``id`` and ``name`` on its first piece, then ``arguments`` fragments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str


class StreamToolCall(_Answer):
    """A ``data:`` event of a ``generate_text`` stream carrying a piece of a tool call."""

    toolCall: StreamToolCallPiece


class StreamDone(_TextOutcome):
    """The last ``data:`` event of a ``generate_text`` stream before ``[DONE]``."""

    done: Literal[True]
    conversationId: str | None = Field(None, description="The conversation this exchange belongs to, when history is used.")


class StoredImage(_Answer):
    """An image in Cloud Storage: ``url`` is a Firebase download URL, ``path`` its object."""

    id: str
    url: str
    path: str
    contentType: str
    width: int
    height: int


class ImageCost(_Answer):
    perImage: float
    total: float
    currency: Literal["USD"]


class ImageAnswer(_Answer):
    """``POST generate_image``."""

    images: list[StoredImage]
    modelId: str
    provider: str
    cost: ImageCost | None
    latencyMs: float


class ModelList(_Answer):
    """``GET models``."""

    models: list[Model]
    nextPageToken: str | None


class UsageTotals(_Answer):
    requests: int
    errors: int
    promptTokens: int
    completionTokens: int
    totalTokens: int
    cachedTokens: int = Field(0, description="Of promptTokens, those the provider served from its prompt cache.")
    reasoningTokens: int = Field(0, description="Of completionTokens, those spent reasoning.")
    estimatedTokens: int = Field(description="Of totalTokens, those the gateway estimated because the provider did not say.")
    images: int
    cost: float


class UserModelDay(_Answer):
    """One model's share of a user's day."""

    requests: int
    totalTokens: int
    cost: float


class UsageDay(UsageTotals):
    date: str
    models: dict[str, UserModelDay] = Field(
        default_factory=dict, description="The day's totals per model id (days booked before this breakdown existed: empty)."
    )


class UsageRecord(_Answer):
    """One generation in the ledger."""

    model_config = ConfigDict(extra="allow")  # records written by older versions may carry more

    id: str
    uid: str
    modelId: str
    provider: str | None
    route: str
    status: Literal["reserved", "ok", "error", "cancelled", "refused", "unsettled"] = Field(
        description="reserved: in flight, its worst case held against the budgets; unsettled: never settled (its instance died), booked at its worst case."
    )
    errorCode: str | None = None
    estimated: bool | None = Field(None, description="Some counts are the gateway's estimate (the provider did not say).")
    reservedTokens: int | None = None
    reservedCost: float | None = None
    promptTokens: int | None = None
    completionTokens: int | None = None
    cachedTokens: int | None = Field(None, description="Of promptTokens, those read from the provider's cache (null: not said).")
    reasoningTokens: int | None = Field(None, description="Of completionTokens, those spent reasoning (null: not said).")
    images: int | None = None
    cost: float | None = None
    latencyMs: float | None = None
    at: Any


class Quota(_Answer):
    """The caller's daily budgets (null: unlimited), today's use and what requests in flight hold; a request whose worst case does not fit is refused."""

    dailyTokens: float | None
    dailyCostUsd: float | None
    usedTokens: int
    usedCostUsd: float
    reservedTokens: int = Field(description="Held by requests in flight (their worst case) and by instances' leases, released as they settle.")
    reservedCostUsd: float
    estimatedTokens: int = Field(description="Of usedTokens, those the gateway estimated.")
    resetAt: str


class UsageReport(_Answer):
    """``GET usage``: totals over ``from``..``to``, per day, and the latest records (paginated)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    uid: str
    from_: str = Field(alias="from")
    to: str
    quota: Quota | None
    totals: UsageTotals
    days: list[UsageDay]
    records: list[UsageRecord]
    nextPageToken: str | None


class UsageRecordsPage(_Answer):
    """``GET usage?view=records``: one page of the records alone, for turning pages without summing the days again."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    uid: str
    from_: str = Field(alias="from")
    to: str
    records: list[UsageRecord]
    nextPageToken: str | None


class Conversation(_Answer):
    """A stored chat of the caller's (``users/{uid}/conversations/{id}``); the counters sum its stored answers."""

    id: str
    title: str
    modelId: str | None
    org: str | None = Field(description="The organisation it was started in (null: none); only that organisation's requests see it.")
    createdAt: str | None
    updatedAt: str | None = Field(description="The last turn's time (a rename does not change it).")
    messageCount: int
    totalTokens: int
    cost: float = Field(description="USD, the sum of the answers' known costs.")


class ConversationList(_Answer):
    """``GET conversations``: the most recently continued first."""

    conversations: list[Conversation]
    nextPageToken: str | None


class ConversationMessage(_Answer):
    """One stored message: the request's own (``user``, ``assistant``) and each answer."""

    id: str
    role: Literal["user", "assistant"]
    content: str
    modelId: str | None
    usage: TokenUsage | None = Field(description="An answer's token counts; null for the request's messages and cancelled answers.")
    cost: float | None
    status: Literal["ok", "cancelled"] = Field(description="cancelled: the client left mid-stream; content is what it was sent.")
    createdAt: str | None
    requestId: str | None


class ConversationDetail(Conversation):
    """``GET conversations/{id}``: the conversation and a page of its messages, oldest first."""

    messages: list[ConversationMessage]
    nextPageToken: str | None


class ErrorDetail(_Answer):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(_Answer):
    """Every error, from every function (the ``openai`` function uses OpenAI's shape instead)."""

    error: ErrorDetail


class RequestDescription(_Answer):
    """``GET generate_text`` and ``GET generate_image``: how to call the ``POST``."""

    method: Literal["POST"]
    contentType: Literal["application/json"]
    roles: list[str]
    request: dict[str, Any] = Field(description="The request body's JSON Schema.")
    response: Any = Field(description="What the answer carries, in words.")


class ProviderProbe(_Answer):
    """One provider's probe in the ``health`` report."""

    status: Literal["healthy", "unhealthy"]
    latencyMs: float | None
    checkedAt: str
    error: str | None = None


class AppCheckProbe(_Answer):
    """Whether the functions may consume limited-use App Check tokens (present only when ``APP_CHECK_CONSUME`` is in use)."""

    status: Literal["healthy", "unhealthy"]
    routes: list[str] = Field(description="The routes that consume limited-use tokens.")
    latencyMs: float | None
    checkedAt: str
    error: str | None = Field(default=None, description="e.g. the missing IAM role roles/firebaseappcheck.tokenVerifier.")


class HealthApi(_Answer):
    status: Literal["healthy"]
    uptimeSeconds: float


class HealthSummary(_Answer):
    healthy: int
    total: int
    percentage: float


class HealthReport(_Answer):
    """``GET health``: 200 when healthy or degraded, 503 when no enabled provider answers."""

    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: str
    version: str
    api: HealthApi
    providers: dict[str, ProviderProbe]
    summary: HealthSummary
    appCheck: AppCheckProbe | None = None


class ModelTotals(UsageTotals):
    modelId: str


class ModelUsageReport(_Answer):
    """``GET usage/models`` (admin): per-model totals over ``from``..``to``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    models: list[ModelTotals]
    totals: UsageTotals


class LatencyPercentiles(_Answer):
    """Latency in ms from summed histograms (bounds 1 ms to ~10 min in 1.25x steps), interpolated within the bucket:
    within 25% of the true value. Null when no latency was counted."""

    p50: float | None
    p95: float | None
    p99: float | None
    count: int = Field(description="Requests whose latency is in the histogram.")


class MetricsDay(_Answer):
    date: str
    requests: int
    errors: int
    totalTokens: int
    cost: float


class MetricsTotals(_Answer):
    requests: int
    errors: int
    promptTokens: int
    completionTokens: int
    totalTokens: int
    cost: float
    latencyMs: LatencyPercentiles


class MetricsGroup(MetricsTotals):
    """One provider's or route's totals (busiest first)."""

    key: str
    daily: list[MetricsDay] = Field(description="Only days with requests; the report's days lists every day of the range.")


class MetricsModel(MetricsGroup):
    """One model's totals."""

    provider: str | None = Field(description="The provider that served it (null for days booked before the provider was kept).")


class MetricsReport(_Answer):
    """``GET usage/metrics`` (admin): dashboards' totals, latency percentiles and per-day series over ``from``..``to``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    days: list[str] = Field(description="Every day of the range, oldest first.")
    totals: MetricsTotals
    byModel: list[MetricsModel]
    byProvider: list[MetricsGroup] = Field(description="Keyed by provider id; \"unknown\" for days booked before the provider was kept.")
    byRoute: list[MetricsGroup] = Field(description="Keyed by the function route that booked it (generate_text, openai, generate_image...).")
    documentsRead: int = Field(description="Firestore documents this answer read.")


class BatchOpResult(_Answer):
    op: Literal["create", "update", "enable", "disable", "delete"]
    id: str


class ModelBatchResult(_Answer):
    """``POST models/batch``: every operation, in order, once all were written."""

    org: str | None = Field(None, description="The organisation whose catalogue it is (null: project-wide).")
    results: list[BatchOpResult]


class ProviderList(_Answer):
    """``GET providers``."""

    providers: list[Provider]


class ProviderTest(_Answer):
    """``POST providers/{id}/test``: a live check, also saved on the provider as ``healthStatus``/``lastHealthCheck``."""

    provider: str
    status: Literal["healthy", "unhealthy"]
    org: str | None = Field(None, description="The organisation whose catalogue it is (null: project-wide).")
    reachable: bool | None
    authValid: bool | None = Field(description="null when the key could not be read or the provider was not reached.")
    modelCount: int | None
    latencyMs: float
    checkedAt: str
    error: str | None = None
    keyError: str | None = Field(None, description="Why Secret Manager did not give the key (disabled, denied, unusable, unavailable).")


class DiscoveredPricing(_Answer):
    inputPer1M: float | None
    outputPer1M: float | None


class DiscoveredModel(_Answer):
    """One model a provider lists, in one shape whatever the provider's list looked like."""

    name: str
    displayName: str | None
    contextLength: int | None
    pricing: DiscoveredPricing | None


class Discovery(_Answer):
    """``GET providers/{id}/models``."""

    provider: str
    org: str | None = Field(None, description="The organisation whose catalogue it is (null: project-wide).")
    models: list[DiscoveredModel]


class ImportResult(_Answer):
    """``POST providers/{id}/models/import``: the registry models created and updated."""

    created: list[str]
    updated: list[str]
    org: str | None = Field(None, description="The organisation whose catalogue it is (null: project-wide).")


class ProviderDeleted(_Answer):
    """``DELETE providers/{id}``: the models ``cascade=true`` disabled."""

    deleted: str
    disabledModels: list[str]
    org: str | None = Field(None, description="The organisation whose catalogue it is (null: project-wide).")


class OpenAIModel(_Answer):
    """``GET openai/v1/models/{id}``: a model, as OpenAI lists one."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class OpenAIModelList(_Answer):
    """``GET openai/v1/models``: the models the caller can call here (text, multimodal and embedding)."""

    object: Literal["list"]
    data: list[OpenAIModel]


class OpenAIPromptTokensDetails(_Answer):
    cached_tokens: int | None = Field(None, description="Prompt tokens read from the provider's cache.")
    cache_write_tokens: int | None = Field(None, description="Prompt tokens written to the provider's cache (Anthropic).")


class OpenAICompletionTokensDetails(_Answer):
    reasoning_tokens: int = Field(description="Completion tokens spent reasoning.")


class OpenAIUsage(_Answer):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: OpenAIPromptTokensDetails | None = Field(None, description="Present when the provider reports cached tokens.")
    completion_tokens_details: OpenAICompletionTokensDetails | None = Field(None, description="Present when the provider reports reasoning tokens.")


class OpenAIFunctionCall(_Answer):
    name: str
    arguments: str


class OpenAIToolCall(_Answer):
    id: str
    type: Literal["function"]
    function: OpenAIFunctionCall


class OpenAIMessage(_Answer):
    role: Literal["assistant"]
    content: str | None
    refusal: None = Field(None, description="Always null: the gateway passes on no refusal apart from the text (required by OpenAI's schema).")
    tool_calls: list[OpenAIToolCall] | None = None


class OpenAIChoice(_Answer):
    index: int
    message: OpenAIMessage
    finish_reason: str
    logprobs: None


class ChatCompletion(_Answer):
    """``POST openai/v1/chat/completions`` without ``stream``."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[OpenAIChoice]
    usage: OpenAIUsage | None = None


class OpenAIFunctionPiece(_Answer):
    name: str | None = None
    arguments: str


class OpenAIToolCallPiece(_Answer):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: OpenAIFunctionPiece


class OpenAIDelta(_Answer):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[OpenAIToolCallPiece] | None = None


class OpenAIChunkChoice(_Answer):
    index: int
    delta: OpenAIDelta
    finish_reason: str | None
    logprobs: None


class ChatCompletionChunk(_Answer):
    """One ``data:`` event of a streamed chat completion; with ``stream_options.include_usage`` the last has no choices and the usage."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[OpenAIChunkChoice]
    usage: OpenAIUsage | None = None


class OpenAIEmbedding(_Answer):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str = Field(description="The vector; with encoding_format base64, its little-endian float32 bytes in base64.")


class OpenAIEmbeddingUsage(_Answer):
    prompt_tokens: int = Field(description="What the provider counted; where it counts nothing, the gateway's estimate (booked as estimated).")
    total_tokens: int


class CreateEmbeddingResponse(_Answer):
    """``POST openai/v1/embeddings``: one vector per input, in order."""

    object: Literal["list"]
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIEmbeddingUsage
class OpenAIImage(_Answer):
    """One image: ``url`` (a Firebase Storage download URL) or ``b64_json`` (its bytes), as ``response_format`` asked."""

    url: str | None = None
    b64_json: str | None = None


class OpenAIImagesResponse(_Answer):
    """``POST openai/v1/images/generations``: the images, stored and recorded as ``generate_image`` stores them."""

    created: int
    data: list[OpenAIImage]
    output_format: Literal["png", "jpeg", "webp"] | None = Field(None, description="The provider's format, when all images share one (the gateway does not convert).")


class OpenAIErrorDetail(_Answer):
    message: str
    type: str = Field(description="invalid_request_error, authentication_error, permission_error, not_found_error, rate_limit_error or api_error.")
    code: str = Field(description="The gateway's error code, lower case (e.g. invalid_argument, provider_timeout).")
    param: str | None = Field(description="The request field at fault, when there is one.")


class OpenAIErrorBody(_Answer):
    """Every error of the ``openai`` function, in OpenAI's shape (also a stream's last event when it fails)."""

    error: OpenAIErrorDetail



class OpenAIOutputText(_Answer):
    type: Literal["output_text"]
    text: str
    annotations: list[Any] = Field(description="Always empty.")
    logprobs: list[Any] = Field(description="Always empty.")


class OpenAIOutputItem(_Answer):
    """An output item: an assistant ``message`` (with ``content``) or a ``function_call`` (with ``call_id``, ``name``, ``arguments``)."""

    id: str = Field(description="msg_... or fc_...")
    type: Literal["message", "function_call"]
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"] | None = None
    content: list[OpenAIOutputText] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None


class OpenAIResponseUsage(_Answer):
    input_tokens: int
    input_tokens_details: dict[str, int] = Field(description="cached_tokens, cache_write_tokens (0 unless the provider reports them).")
    output_tokens: int
    output_tokens_details: dict[str, int] = Field(description="reasoning_tokens.")
    total_tokens: int


class OpenAIFunctionTool(_Answer):
    type: Literal["function"]
    name: str
    description: str | None
    parameters: dict[str, Any] | None
    strict: bool | None


class OpenAIResponseError(_Answer):
    code: str = Field(description="server_error or rate_limit_exceeded.")
    message: str


class OpenAIResponse(_Answer):
    """``POST openai/v1/responses`` without ``stream``, and ``GET openai/v1/responses/{id}``: OpenAI's ``response`` object."""

    id: str = Field(description="resp_...")
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "incomplete", "in_progress", "failed"]
    completed_at: int | None
    error: OpenAIResponseError | None
    incomplete_details: dict[str, str] | None = Field(description="{reason: max_output_tokens | content_filter} when incomplete.")
    instructions: str | None
    max_output_tokens: int | None
    model: str
    output: list[OpenAIOutputItem]
    parallel_tool_calls: bool
    previous_response_id: str | None
    reasoning: None
    store: bool = Field(description="Whether it was stored (false when asked not to, or when it could not be).")
    temperature: float | None
    text: dict[str, Any] = Field(description="{format: {type: text | json_object | json_schema, ...}}, as asked.")
    tool_choice: str | dict[str, Any]
    tools: list[OpenAIFunctionTool]
    top_p: float | None
    truncation: Literal["disabled"]
    usage: OpenAIResponseUsage | None
    metadata: dict[str, str]


class OpenAIResponseDeleted(_Answer):
    """``DELETE openai/v1/responses/{id}``."""

    id: str
    object: Literal["response.deleted"]
    deleted: Literal[True]


class ResponseLifecycleEvent(_Answer):
    """A streamed response's state: created and in_progress first, then one of completed, incomplete or failed."""

    type: Literal["response.created", "response.in_progress", "response.completed", "response.incomplete", "response.failed"]
    sequence_number: int
    response: OpenAIResponse


class ResponseOutputItemEvent(_Answer):
    type: Literal["response.output_item.added", "response.output_item.done"]
    sequence_number: int
    output_index: int
    item: OpenAIOutputItem


class ResponseContentPartEvent(_Answer):
    type: Literal["response.content_part.added", "response.content_part.done"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    part: OpenAIOutputText


class ResponseTextDeltaEvent(_Answer):
    type: Literal["response.output_text.delta"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[Any]


class ResponseTextDoneEvent(_Answer):
    type: Literal["response.output_text.done"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[Any]


class ResponseArgumentsDeltaEvent(_Answer):
    type: Literal["response.function_call_arguments.delta"]
    sequence_number: int
    item_id: str
    output_index: int
    delta: str


class ResponseArgumentsDoneEvent(_Answer):
    type: Literal["response.function_call_arguments.done"]
    sequence_number: int
    item_id: str
    name: str
    output_index: int
    arguments: str


class ResponseErrorEvent(_Answer):
    """A failure after the stream began (then ``response.failed``)."""

    type: Literal["error"]
    sequence_number: int
    code: str | None
    message: str
    param: str | None


class OrgBudget(_Answer):
    """An organisation's caps (null: none) and what is booked and reserved against them now."""

    dailyCostUsd: float | None
    spentTodayUsd: float
    reservedTodayUsd: float = Field(description="Held by requests under way (their worst case), not yet booked.")
    monthlyCostUsd: float | None
    spentMonthUsd: float
    reservedMonthUsd: float


class OrgUsageRow(_Answer):
    requests: int
    tokens: int
    costUsd: float


class OrgUsageDay(OrgUsageRow):
    date: str


class OrgUsageModel(OrgUsageRow):
    modelId: str


class OrgUsageMember(OrgUsageRow):
    uid: str


class OrgUsageReport(_Answer):
    """``GET usage/org`` (org owners and admins, project admins): an organisation's budget and usage over ``from``..``to``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    org: str
    from_: str = Field(alias="from")
    to: str
    budget: OrgBudget
    days: list[OrgUsageDay] = Field(description="Every day of the range, oldest first.")
    byModel: list[OrgUsageModel] = Field(description="Busiest first.")
    byMember: list[OrgUsageMember] = Field(description="Busiest first.")
    documentsRead: int = Field(description="Organisation day and month documents read to answer.")
