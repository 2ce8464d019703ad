"""Image generation: provider calls, upload to Cloud Storage, gallery records, all or nothing.

Images are generated and uploaded call by call; if any call fails, or an
upload or the Firestore write does, every object already uploaded for the
request is deleted and no record is written, so a request leaves either all
its images (with records) or nothing.

Where they go: ``generated/{uid}/{yyyy}/{mm}/{id}.{ext}`` for a request in
no organisation (as before organisations), and
``orgs/{org}/generated/{uid}/{yyyy}/{mm}/{id}.{ext}`` for one in organisation
``org`` (:func:`object_path`), so ``storage.rules`` and an organisation's
delete can tell an organisation's images by their path. Each record
(``users/{uid}/images/{id}``) carries ``org`` (null for none).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from gateway import budgets, firebase, generation, logs, storage
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.providers.base import Image, ImageRequest
from gateway.registry import usable_model
from gateway.schemas import Model, Pricing

DEFAULT_SIZE = 1024
MIN_SIZE, MAX_SIZE = 256, 1024
MAX_IMAGES = 4
"""Images one request may ask for (each is a provider call or a share of one, and an upload)."""
MAX_PROMPT = 2000


@dataclass
class ImageParams:
    prompt: str
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    guidance_scale: float | None = None
    steps: int | None = None
    num_images: int = 1
    seed: int | None = None


@dataclass
class Stored:
    id: str
    path: str
    url: str
    image: Image


@dataclass
class Batch:
    """The images of one request, stored and recorded, and what they cost."""

    model: Model
    stored: list[Stored]
    cost: dict[str, Any] | None
    latency_ms: float


IMAGE_TYPES = ("image",)


def image_model(model_id: str, field_name: str = "modelId", org: str | None = None) -> Model:
    """An enabled image model a request in ``org`` may call; 404 or 400 (naming ``field_name``) otherwise."""
    return usable_model(model_id, IMAGE_TYPES, field_name, org)


def check_side(value: int) -> int:
    """A width or height the gateway asks providers for; ValueError (its message for the caller) otherwise."""
    if not MIN_SIZE <= value <= MAX_SIZE or value % 8:
        raise ValueError(f"must be a multiple of 8 from {MIN_SIZE} to {MAX_SIZE}")
    return value


def _size(requested: int | None, configured: int | None) -> int:
    if requested is not None:
        return requested
    if configured is not None and MIN_SIZE <= configured <= MAX_SIZE and configured % 8 == 0:
        return configured
    return DEFAULT_SIZE


def cost(pricing: Pricing | None, count: int) -> dict[str, Any] | None:
    if pricing is None or pricing.perImage is None:
        return None
    return {"perImage": pricing.perImage, "total": round(pricing.perImage * count, 10), "currency": "USD"}


def _requests(model: Model, params: ImageParams, per_call: int) -> list[ImageRequest]:
    config = model.config
    out = []
    done = 0
    while done < params.num_images:
        count = min(per_call, params.num_images - done)
        out.append(
            ImageRequest(
                model=model.name,
                prompt=params.prompt,
                width=_size(params.width, config.width),
                height=_size(params.height, config.height),
                count=count,
                negative_prompt=params.negative_prompt,
                guidance_scale=params.guidance_scale if params.guidance_scale is not None else config.guidanceScale,
                steps=params.steps if params.steps is not None else config.steps,
                seed=None if params.seed is None else params.seed + done,
                timeout=config.timeoutSeconds or 120.0,
                base_url=str(model.endpointURL) if model.endpointURL else None,
            )
        )
        done += count
    return out


def create(ctx: Any, model_id: str, params: ImageParams, field_name: str = "modelId") -> Batch:
    """What every image route does (``generate_image``, ``openai``'s ``/v1/images/generations``).

    The model is checked and the request counted and reserved before any
    provider call (images are expensive: no overlap with the call); under a
    cost budget an unpriced model is a 400 naming ``field_name``. The ledger
    entry is settled with the images kept, after the answer (``later``).
    """
    assert ctx.caller is not None
    model = image_model(model_id, field_name, ctx.caller.org)
    caps = budgets.caps_for(ctx.caller.profile, ctx.caller.role, ctx.caller)
    if caps.costed and budgets.image_price(model) is None:
        raise budgets.unpriced(model, field_name, "perImage")
    ctx.admit(model, budgets.image_ask(model, params.num_images), overlap=False, caps=caps)
    tracker = ctx.tracker()
    batch = generate(ctx.caller.uid, model, params, field_name, ctx.caller.org)
    tracker.ok(model, None, batch.cost, images=len(batch.stored), later=True)
    return batch


def object_path(uid: str, org: str | None, at: datetime, image_id: str, extension: str) -> str:
    """Where an image of ``uid`` made in organisation ``org`` (None: none) is stored."""
    base = f"generated/{uid}" if org is None else f"orgs/{org}/generated/{uid}"
    return f"{base}/{at:%Y}/{at:%m}/{image_id}.{extension}"


def generate(uid: str, model: Model, params: ImageParams, field_name: str = "modelId", org: str | None = None) -> Batch:
    """Generate, store and record ``params.num_images`` images for ``uid`` in ``org`` (no admission, no ledger: :func:`create`)."""
    started = time.perf_counter()
    adapter = generation.adapter_for(model)
    now = datetime.now(timezone.utc)
    prompt_hash = hashlib.sha256(params.prompt.encode()).hexdigest()
    stored: list[Stored] = []
    try:
        for request in _requests(model, params, max(1, adapter.images_per_call)):
            try:
                images = generation.call_provider(model, adapter, lambda r=request: adapter.generate_images(r))
            except NotImplementedError:
                raise invalid(field_name, f"provider '{model.provider}' cannot generate images") from None
            if len(images) != request.count:
                raise GatewayError(
                    ErrorCode.PROVIDER_ERROR, f"Provider '{model.provider}' returned {len(images)} of {request.count} images", {"provider": model.provider}
                )
            for offset, image in enumerate(images):
                image_id = uuid.uuid4().hex
                path = object_path(uid, org, now, image_id, image.extension)
                seed = "" if request.seed is None else str(request.seed + offset)
                metadata = {"uid": uid, "modelId": model.id, "provider": model.provider, "promptHash": prompt_hash, "seed": seed, "createdAt": now.isoformat()}
                if org:
                    metadata["org"] = org
                url = storage.upload(path, image.data, image.content_type, metadata)
                stored.append(Stored(image_id, path, url, image))
        per_image = cost(model.pricing, 1)
        batch = firebase.db().batch()
        images_ref = firebase.db().collection("users").document(uid).collection("images")
        for item in stored:
            batch.set(
                images_ref.document(item.id),
                {
                    "path": item.path,
                    "url": item.url,
                    "modelId": model.id,
                    "provider": model.provider,
                    "org": org,
                    "prompt": params.prompt,
                    "width": item.image.width,
                    "height": item.image.height,
                    "contentType": item.image.content_type,
                    "createdAt": now,
                    "cost": per_image,
                },
            )
        batch.commit()
    except GatewayError:
        storage.delete([s.path for s in stored])
        raise
    except Exception as exc:
        storage.delete([s.path for s in stored])
        logs.error("image storage failed; uploads removed", uid=uid, modelId=model.id, exception=type(exc).__name__)
        raise GatewayError(ErrorCode.UNAVAILABLE, "Could not store the images; nothing was kept. Try again.") from None
    return Batch(model, stored, cost(model.pricing, len(stored)), round((time.perf_counter() - started) * 1000, 1))
