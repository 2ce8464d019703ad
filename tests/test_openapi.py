"""The OpenAPI description: generated from the code, committed, valid OpenAPI 3.1, served by every function."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
import requests

from conftest import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict:
    from gateway import openapi

    return openapi.build()


def test_committed_file_matches_the_code(document) -> None:
    from gateway import openapi

    assert DOCUMENT.read_text() == openapi.render(document), "docs/openapi.json is stale: run functions/venv/bin/python scripts/openapi.py"
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "openapi.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_valid_openapi_3_1_that_schemathesis_loads(document) -> None:
    import schemathesis
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate

    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(document)))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in document["paths"].values())


def test_every_function_and_method_is_described(document) -> None:
    from gateway import openapi

    paths = document["paths"]
    for function, module_name in openapi.FUNCTIONS:
        module = importlib.import_module(module_name)
        described = {method.upper() for path, item in paths.items() if path.startswith(f"/{function}") for method in item}
        assert set(module.ROUTES) <= described, f"{function}: {set(module.ROUTES) - described} not described"
        assert f"/{function}/openapi.json" in paths


def test_every_operation_documents_its_errors_and_roles(document) -> None:
    for path, item in document["paths"].items():
        for method, op in item.items():
            name = f"{method.upper()} {path}"
            responses = op["responses"]
            assert "x-roles" in op, name
            if op["x-roles"] == ["public"]:
                assert op["security"] == [], name
            else:
                assert {"401", "403", "500"} <= set(responses), name
                assert set(op["x-roles"]) <= {"admin", "user", "viewer"}, name
            for status, response in responses.items():
                if int(status) >= 400 and "$ref" in response:
                    shape = "OpenAIError" if path.startswith("/openai/") else "Error"
                    assert response["$ref"] == f"#/components/responses/{shape}{status}", name
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path, name


def test_streams_describe_their_events(document) -> None:
    generate = document["paths"]["/generate_text"]["post"]["responses"]["200"]["content"]
    assert set(generate) == {"application/json", "text/event-stream"}
    assert generate["text/event-stream"]["x-sse-events"] == ["StreamDelta", "StreamToolCall", "StreamDone", "ErrorBody"]
    chat = document["paths"]["/openai/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert chat["text/event-stream"]["x-sse-events"] == ["ChatCompletionChunk", "OpenAIErrorBody"]


def test_each_function_serves_the_document_without_a_token(emulators) -> None:
    from gateway import openapi

    committed = json.loads(DOCUMENT.read_text())
    for function, _ in openapi.FUNCTIONS:
        response = requests.get(emulators.url(function, "/openapi.json"), timeout=30)
        assert response.status_code == 200, (function, response.text[:200])
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.headers.get("X-Request-Id")
        assert response.json() == committed, function
