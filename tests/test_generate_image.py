"""generate_image against fake image providers, storing into the real Storage and Firestore emulators."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
import requests
from PIL import Image


@pytest.fixture
def image_models(providers) -> dict[str, Any]:
    """Image models on the Hugging Face, OpenAI and OpenRouter fakes."""
    from gateway import firebase
    from gateway.registry import registry

    models = firebase.db().collection("models")
    common = {"type": "image", "enabled": True, "config": {"width": 512, "height": 384, "timeoutSeconds": 5}}
    models.document("hf-image").set({**common, "name": "black-forest-labs/FLUX.1-schnell", "provider": "huggingface", "pricing": {"perImage": 0.002}})
    models.document("openai-image").set({**common, "name": "gpt-image-1", "provider": "openai", "pricing": {"perImage": 0.04}})
    models.document("openrouter-image").set({**common, "name": "google/gemini-2.5-flash-image", "provider": "openrouter", "pricing": {"perImage": 0.03}})
    registry().invalidate()
    return providers


def _generate(local, account, **body: Any) -> Any:
    return local("generate_image").post("/", json={"prompt": "a red fox in the snow", **body}, headers=account.headers)


def _objects(uid: str) -> list[Any]:
    from gateway import storage

    return list(storage.bucket().list_blobs(prefix=f"generated/{uid}/"))


def _records(uid: str) -> list[dict[str, Any]]:
    from gateway import firebase

    return [d.to_dict() | {"id": d.id} for d in firebase.db().collection("users").document(uid).collection("images").stream()]


@pytest.fixture
def painter(emulators) -> Any:
    """A fresh user, so buckets and records start empty for each test."""
    return emulators.sign_up("user")


@pytest.mark.parametrize(("model_id", "server", "provider"), [("hf-image", "hf-images", "huggingface"), ("openai-image", "openai", "openai"), ("openrouter-image", "openrouter", "openrouter")])
def test_image_is_stored_recorded_and_served(local, image_models, painter, emulators, model_id: str, server: str, provider: str) -> None:
    response = _generate(local, painter, modelId=model_id, seed=7)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["modelId"] == model_id and body["provider"] == provider and body["latencyMs"] > 0
    [image] = body["images"]
    assert image["contentType"] == "image/png" and image["path"].startswith(f"generated/{painter.uid}/") and image["path"].endswith(".png")
    sent = image_models[server].state["sent"][-1]
    with Image.open(io.BytesIO(sent)) as decoded:
        assert (image["width"], image["height"]) == decoded.size

    [blob] = _objects(painter.uid)
    assert blob.name == image["path"] and blob.download_as_bytes() == sent
    assert blob.content_type == "image/png" and blob.cache_control.startswith("private")
    metadata = blob.metadata
    assert metadata["uid"] == painter.uid and metadata["modelId"] == model_id and metadata["provider"] == provider
    assert metadata["promptHash"] == hashlib.sha256(b"a red fox in the snow").hexdigest()
    assert metadata["firebaseStorageDownloadTokens"] in image["url"]

    downloaded = requests.get(image["url"], timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == sent

    [record] = _records(painter.uid)
    assert record["id"] == image["id"] and record["path"] == image["path"] and record["url"] == image["url"]
    assert record["prompt"] == "a red fox in the snow" and record["contentType"] == "image/png"
    assert (record["width"], record["height"]) == (image["width"], image["height"])

    # Firestore rules: the owner reads the record, another user does not, nobody writes it.
    doc = f"{emulators.firestore}/v1/projects/{emulators.project}/databases/(default)/documents/users/{painter.uid}/images/{image['id']}"
    assert requests.get(doc, headers=painter.headers, timeout=10).status_code == 200
    stranger = emulators.sign_up("user")
    assert requests.get(doc, headers=stranger.headers, timeout=10).status_code == 403
    assert requests.patch(doc, json={"fields": {}}, headers=painter.headers, timeout=10).status_code == 403


def test_model_defaults_and_hf_parameters(local, image_models, painter) -> None:
    body = _generate(local, painter, modelId="hf-image", negativePrompt="blurry", guidanceScale=3.5, steps=4, seed=42).get_json()
    assert (body["images"][0]["width"], body["images"][0]["height"]) == (512, 384)
    sent = image_models["hf-images"].state["requests"][-1]
    assert sent["path"] == "/hf-inference/models/black-forest-labs/FLUX.1-schnell"
    assert sent["body"] == {
        "inputs": "a red fox in the snow",
        "parameters": {"width": 512, "height": 384, "negative_prompt": "blurry", "guidance_scale": 3.5, "num_inference_steps": 4, "seed": 42},
    }
    assert sent["headers"]["Authorization"].startswith("Bearer hf_")
    assert body["cost"] == {"perImage": 0.002, "total": 0.002, "currency": "USD"}


def test_several_images_one_call_each_with_distinct_seeds(local, image_models, painter) -> None:
    body = _generate(local, painter, modelId="hf-image", numImages=3, seed=10, width=256, height=264).get_json()
    assert len(body["images"]) == 3 and len({i["id"] for i in body["images"]}) == 3
    assert [r["body"]["parameters"]["seed"] for r in image_models["hf-images"].state["requests"]] == [10, 11, 12]
    assert all((i["width"], i["height"]) == (256, 264) for i in body["images"])
    assert len(_objects(painter.uid)) == 3 and len(_records(painter.uid)) == 3
    assert body["cost"]["total"] == pytest.approx(0.006)


def test_openai_returns_several_images_in_one_call(local, image_models, painter) -> None:
    body = _generate(local, painter, modelId="openai-image", numImages=2, width=256, height=256).get_json()
    assert len(body["images"]) == 2
    [call] = image_models["openai"].state["requests"]
    assert call["body"] == {**call["body"], "n": 2, "size": "256x256", "response_format": "b64_json"}


def test_jpeg_is_stored_as_jpeg(local, image_models, painter) -> None:
    image_models["hf-images"].state["format"] = "jpeg"
    [image] = _generate(local, painter, modelId="hf-image").get_json()["images"]
    assert image["contentType"] == "image/jpeg" and image["path"].endswith(".jpg")
    assert _objects(painter.uid)[0].content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("fault", "code"),
    [({"json_error_200": True}, "PROVIDER_ERROR"), ({"truncated": True}, "PROVIDER_ERROR"), ({"not_image": True}, "PROVIDER_ERROR")],
)
def test_bad_upstream_images_are_never_stored(local, image_models, painter, fault: dict[str, Any], code: str) -> None:
    image_models["hf-images"].state["faults"] = [fault] * 3
    response = _generate(local, painter, modelId="hf-image")
    assert response.status_code == 502 and response.get_json()["error"]["code"] == code
    assert _objects(painter.uid) == [] and _records(painter.uid) == []


def test_loading_model_and_rate_limits_are_retried(local, image_models, painter) -> None:
    image_models["hf-images"].state["faults"] = [{"loading": 0.2}, {"status": 429, "retry_after": "0"}]
    response = _generate(local, painter, modelId="hf-image")
    assert response.status_code == 200
    assert len(image_models["hf-images"].state["requests"]) == 3


def test_all_or_nothing_when_image_two_of_three_fails(local, image_models, painter) -> None:
    image_models["hf-images"].state["faults"] = [{}, {"truncated": True}]
    response = _generate(local, painter, modelId="hf-image", numImages=3)
    assert response.status_code == 502
    assert len(image_models["hf-images"].state["sent"]) == 2  # the first image was made (and uploaded) before the second failed
    assert _objects(painter.uid) == [] and _records(painter.uid) == []


def test_openai_error_in_json_and_bad_base64(local, image_models, painter) -> None:
    image_models["openai"].state["faults"] = [{"not_image": True}]
    response = _generate(local, painter, modelId="openai-image")
    assert response.status_code == 502
    assert _objects(painter.uid) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x"}, "modelId"),
        ({"modelId": "hf-image", "prompt": ""}, "prompt"),
        ({"modelId": "hf-image", "prompt": "x" * 2001}, "prompt"),
        ({"modelId": "hf-image", "prompt": "x", "negativePrompt": "y" * 2001}, "negativePrompt"),
        ({"modelId": "hf-image", "prompt": "x", "width": 250}, "width"),
        ({"modelId": "hf-image", "prompt": "x", "width": 1032}, "width"),
        ({"modelId": "hf-image", "prompt": "x", "height": 300}, "height"),
        ({"modelId": "hf-image", "prompt": "x", "guidanceScale": 31}, "guidanceScale"),
        ({"modelId": "hf-image", "prompt": "x", "steps": 0}, "steps"),
        ({"modelId": "hf-image", "prompt": "x", "steps": 151}, "steps"),
        ({"modelId": "hf-image", "prompt": "x", "numImages": 5}, "numImages"),
        ({"modelId": "hf-image", "prompt": "x", "numImages": 0}, "numImages"),
        ({"modelId": "hf-image", "prompt": "x", "seed": -1}, "seed"),
        ({"modelId": "hf-image", "prompt": "x", "style": "noir"}, "style"),
        ({"modelId": "openai-chat", "prompt": "x"}, "modelId"),
    ],
)
def test_invalid_requests_name_the_field(local, image_models, painter, body: dict[str, Any], field: str) -> None:
    response = local("generate_image").post("/", json=body, headers=painter.headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["message"].startswith(f"{field}:")
    assert image_models["hf-images"].state["requests"] == []


def test_roles_and_schema(local, image_models, accounts) -> None:
    assert _generate(local, accounts["viewer"], modelId="hf-image").status_code == 403
    assert local("generate_image").post("/", json={"modelId": "hf-image", "prompt": "x"}).status_code == 401
    schema = local("generate_image").get("/", headers=accounts["viewer"].headers).get_json()["request"]
    assert {"modelId", "prompt", "width", "height", "numImages", "seed"} <= set(schema["properties"])
    assert _generate(local, accounts["user"], modelId="no-such-model").status_code == 404
