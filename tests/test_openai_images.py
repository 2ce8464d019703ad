"""``POST /v1/images/generations`` on the ``openai`` function: the native image generation in OpenAI's shape.

In-process for the wire format; the official openai SDK through the emulator for ``client.images.generate``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import openai as openai_sdk
import pytest
import requests
from PIL import Image
from test_generate_image import _objects, _records
from test_usage import _records as _ledger


@pytest.fixture
def image_models(providers) -> dict[str, Any]:
    """An image model on the Hugging Face fake (one image a call) and one on the OpenAI fake (several a call)."""
    from gateway import firebase
    from gateway.registry import registry

    models = firebase.db().collection("models")
    common = {"type": "image", "enabled": True, "config": {"width": 512, "height": 384, "timeoutSeconds": 5}}
    models.document("hf-image").set({**common, "name": "black-forest-labs/FLUX.1-schnell", "provider": "huggingface", "pricing": {"perImage": 0.002}})
    models.document("openai-image").set({**common, "name": "gpt-image-1", "provider": "openai", "pricing": {"perImage": 0.04}})
    registry().invalidate()
    return providers


@pytest.fixture
def painter(emulators) -> Any:
    """A fresh user: Storage objects, records and ledger start empty."""
    return emulators.sign_up("user")


def _images(local, account, **body: Any) -> Any:
    return local("openai").post("/v1/images/generations", json={"prompt": "a red fox in the snow", **body}, headers=account.headers)


def _param(response: Any) -> str | None:
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["type"] == "invalid_request_error"
    return error["param"]


def test_url_is_the_stored_image_and_is_booked_like_generate_image(local, image_models, painter) -> None:
    from gateway import answers

    response = _images(local, painter, model="hf-image")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    answers.OpenAIImagesResponse.model_validate(body)  # the answer model (extra="forbid") the API description is made from
    assert set(body) == {"created", "data", "output_format"} and body["output_format"] == "png"
    [item] = body["data"]
    assert set(item) == {"url"}
    sent = image_models["hf-images"].state["sent"][-1]
    fetched = requests.get(item["url"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == sent

    [blob] = _objects(painter.uid)
    assert blob.download_as_bytes() == sent and blob.metadata["modelId"] == "hf-image"
    [record] = _records(painter.uid)
    assert record["url"] == item["url"] and record["path"] == blob.name and record["prompt"] == "a red fox in the snow"
    assert (record["width"], record["height"]) == (512, 384)  # size omitted: the model's configured size
    [entry] = _ledger(painter.uid)
    assert entry["route"] == "openai" and entry["status"] == "ok" and entry["modelId"] == "hf-image"
    assert entry["images"] == 1 and entry["cost"] == pytest.approx(0.002)


def test_b64_json_answers_the_bytes_and_keeps_the_same_records(local, image_models, painter) -> None:
    from gateway import answers

    body = _images(local, painter, model="openai-image", n=2, response_format="b64_json", size="256x256").get_json()
    answers.OpenAIImagesResponse.model_validate(body)
    assert [set(i) for i in body["data"]] == [{"b64_json"}, {"b64_json"}]
    decoded = [base64.b64decode(i["b64_json"]) for i in body["data"]]
    assert decoded == image_models["openai"].state["sent"][-2:]
    for data in decoded:
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG" and image.size == (256, 256)
    [call] = image_models["openai"].state["requests"]
    assert call["body"]["n"] == 2 and call["body"]["size"] == "256x256"
    assert sorted(b.download_as_bytes() for b in _objects(painter.uid)) == sorted(decoded)
    assert len(_records(painter.uid)) == 2
    [entry] = _ledger(painter.uid)
    assert entry["images"] == 2 and entry["cost"] == pytest.approx(0.08)


def test_n_and_size_are_honoured(local, image_models, painter) -> None:
    body = _images(local, painter, model="hf-image", n=3, size="256x264").get_json()
    assert len(body["data"]) == 3
    sent = [r["body"]["parameters"] for r in image_models["hf-images"].state["requests"]]
    assert [(p["width"], p["height"]) for p in sent] == [(256, 264)] * 3
    assert _images(local, painter, model="hf-image", size="auto", n=None, response_format=None).status_code == 200
    assert image_models["hf-images"].state["requests"][-1]["body"]["parameters"] == {"width": 512, "height": 384}


@pytest.mark.parametrize("size", ["1792x1024", "250x256", "256x260", "big", "256x256x2", "0x256"])
def test_a_size_the_gateway_cannot_ask_for_is_refused(local, image_models, painter, size: str) -> None:
    assert _param(_images(local, painter, model="hf-image", size=size)) == "size"
    assert image_models["hf-images"].state["requests"] == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "model"),  # OpenAI's default (dall-e-2) is no gateway model: model is required here
        ({"model": None}, "model"),
        ({"model": "openai-chat"}, "model"),  # a text model
        ({"model": "hf-image", "n": 5}, "n"),
        ({"model": "hf-image", "n": 0}, "n"),
        ({"model": "hf-image", "prompt": ""}, "prompt"),
        ({"model": "hf-image", "response_format": "png"}, "response_format"),
        ({"model": "hf-image", "quality": "hd"}, "quality"),
        ({"model": "hf-image", "style": "natural"}, "style"),
        ({"model": "hf-image", "background": "transparent"}, "background"),
        ({"model": "hf-image", "moderation": "low"}, "moderation"),
        ({"model": "hf-image", "output_format": "webp"}, "output_format"),
        ({"model": "hf-image", "output_compression": 50}, "output_compression"),
        ({"model": "hf-image", "partial_images": 2}, "partial_images"),
        ({"model": "hf-image", "stream": True}, "stream"),
        ({"model": "hf-image", "negative_prompt": "blurry"}, "negative_prompt"),  # not OpenAI's: refused, never dropped
    ],
)
def test_refusals_name_the_field(local, image_models, painter, body: dict[str, Any], param: str) -> None:
    assert _param(_images(local, painter, **body)) == param
    assert image_models["hf-images"].state["requests"] == [] and _objects(painter.uid) == []


def test_documented_fields_at_their_defaults_are_accepted(local, image_models, painter) -> None:
    defaults = {"quality": "auto", "style": "vivid", "background": "auto", "moderation": "auto", "output_format": "png",
                "output_compression": 100, "partial_images": 0, "stream": False, "response_format": "url", "n": 1, "size": "auto"}
    assert _images(local, painter, model="hf-image", user="user-1234", **defaults).status_code == 200
    nulls = dict.fromkeys(defaults)
    assert _images(local, painter, model="hf-image", **nulls).status_code == 200
    assert len(image_models["hf-images"].state["requests"]) == 2


def test_roles_unknown_model_and_budget(local, image_models, accounts, painter) -> None:
    from gateway import auth, firebase

    viewer = _images(local, accounts["viewer"], model="hf-image")
    assert viewer.status_code == 403 and viewer.get_json()["error"]["type"] == "permission_error"
    missing = _images(local, painter, model="no-such-model")
    assert missing.status_code == 404 and missing.get_json()["error"]["param"] == "model"
    # The worst case is reserved before the provider call: a cost budget below one image's price refuses it uncalled.
    firebase.db().collection("users").document(painter.uid).set({"quota": {"dailyCostUsd": 0.001}})
    auth.forget(painter.uid)
    refused = _images(local, painter, model="hf-image")
    assert refused.status_code == 429 and refused.get_json()["error"]["type"] == "rate_limit_error"
    assert image_models["hf-images"].state["requests"] == [] and _objects(painter.uid) == []


@pytest.fixture
def sdk(emulators, painter) -> Iterator[openai_sdk.OpenAI]:
    with openai_sdk.OpenAI(base_url=emulators.url("openai", "/v1"), api_key=painter.token, max_retries=0, timeout=60) as client:
        yield client


def test_openai_sdk_generates_images_unchanged(sdk, image_models, painter) -> None:
    answer = sdk.images.generate(model="hf-image", prompt="a red fox in the snow", size="256x256")
    assert answer.data is not None and answer.data[0].url is not None
    fetched = requests.get(answer.data[0].url, timeout=10)
    assert fetched.status_code == 200 and fetched.content == image_models["hf-images"].state["sent"][-1]

    encoded = sdk.images.generate(model="openai-image", prompt="a red fox", n=2, response_format="b64_json")
    assert encoded.data is not None and len(encoded.data) == 2
    with Image.open(io.BytesIO(base64.b64decode(encoded.data[0].b64_json or ""))) as image:
        assert image.size == (512, 384)
    assert len(_records(painter.uid)) == 3 and len(_objects(painter.uid)) == 3

    with pytest.raises(openai_sdk.BadRequestError) as refused:
        sdk.images.generate(prompt="no model named")
    assert refused.value.param == "model"
    with pytest.raises(openai_sdk.BadRequestError) as big:
        sdk.images.generate(model="hf-image", prompt="x", size="1792x1024")
    assert big.value.param == "size"


def test_image_models_are_listed_as_callable(local, image_models, accounts) -> None:
    """``/v1/models`` shows what the caller can call, image models included (as OpenAI lists its own)."""
    listed = {m["id"] for m in local("openai").get("/v1/models", headers=accounts["user"].headers).get_json()["data"]}
    assert {"hf-image", "openai-image", "openai-chat"} <= listed
    assert local("openai").get("/v1/models/hf-image", headers=accounts["user"].headers).status_code == 200
