"""Outbound calls: which addresses the gateway may call, redirects, where keys go, and bounded answers.

Production refuses loopback; the fakes live on loopback. So the production
policy is tested by turning the emulator's loopback allowance off
(``outbound._emulated``) and reaching the fakes by a *name* (``localhost``):
the name passes the write-time check and is refused once it resolves, which
is the DNS-rebinding case.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from test_generate_text import _events, _post

from conftest import KEYS


@pytest.fixture
def production(monkeypatch):
    """The outbound policy as deployed: no loopback allowance, no allow-list.

    The policy is checked when a connection opens (the param cannot change
    while an instance runs), so pooled connections are dropped around each test.
    """
    from gateway import outbound, upstream

    monkeypatch.setattr(outbound, "_emulated", lambda: False)
    monkeypatch.setenv("OUTBOUND_PRIVATE_HOSTS", "")
    upstream.close()
    yield
    upstream.close()


def _rebind(provider: str) -> None:
    """Store the provider's key again for its current addresses (``seed/set_secret.py``), as moving a provider asks."""
    from conftest import KEYS
    from gateway import firebase
    from seed import set_secret

    if provider in KEYS and (firebase.db().collection("providers").document(provider).get().to_dict() or {}).get("hasKey"):
        set_secret.store(provider, KEYS[provider])


def _point(provider: str, base_url: str, **fields: Any) -> None:
    """Edit a provider document as an admin would in the console (no API checks), and store its key again there."""
    from gateway import firebase, providers_store, secrets

    firebase.db().collection("providers").document(provider).update({"baseUrl": base_url, **fields})
    _rebind(provider)
    providers_store.invalidate()
    secrets.forget()


FORBIDDEN = [
    ("http://169.254.169.254/computeMetadata/v1", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://metadata.google.internal/computeMetadata/v1", "metadata"),
    ("http://metadata/computeMetadata/v1", "metadata"),
    ("http://127.0.0.1:8080/v1", "loopback"),
    ("http://[::1]:8080/v1", "loopback"),
    ("http://[::ffff:127.0.0.1]/v1", "loopback"),
    ("http://10.1.2.3/v1", "private"),
    ("http://172.16.0.9/v1", "private"),
    ("http://192.168.1.1/v1", "private"),
    ("http://[fd12::1]/v1", "private"),
    ("http://100.64.0.1/v1", "private"),
    ("http://0.0.0.0:8080/v1", "unspecified"),
    # spellings that reach the same places: UTS-46 mapped names, IPv6 addresses carrying an IPv4 one
    ("http://\uff4d\uff45\uff54\uff41\uff44\uff41\uff54\uff41.google.internal/computeMetadata/v1", "metadata"),
    ("http://metadata\u3002google\u3002internal/computeMetadata/v1", "metadata"),
    ("http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/v1", "loopback"),
    ("http://[2002:7f00:1::]/v1", "loopback"),
    ("http://[2002:a9fe:a9fe::]/computeMetadata/v1", "link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/computeMetadata/v1", "link-local"),
    ("http://[64:ff9b:1::a00:1]/v1", "private"),
    ("http://[::7f00:1]/v1", "loopback"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/v1", "loopback"),  # Teredo, client 127.0.0.1 (obfuscated)
    ("http://\uff41\uff50\uff49.example.com/v1", "can call"),  # maps to ASCII, but httpx cannot send it
    ("http://256.1.1.1/v1", "can call"),
    ("http://user:pw@api.example.com/v1", "user:password"),
    ("file:///etc/passwd", "http(s)"),
    ("gopher://api.example.com/", "http(s)"),
]


@pytest.mark.parametrize(("url", "reason"), FORBIDDEN)
def test_admin_api_refuses_each_forbidden_class(local, providers, accounts, production, url: str, reason: str) -> None:
    body = {"id": "evil", "type": "openai-compatible", "baseUrl": url}
    response = local("providers").post("/", json=body, headers=accounts["admin"].headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["message"].startswith("baseUrl")
    assert reason in error["message"]


@pytest.mark.parametrize("field", ["healthCheckUrl", "imageBaseUrl"])
def test_every_called_url_field_is_checked(local, providers, accounts, production, field: str) -> None:
    body = {"id": "evil", "type": "huggingface", "baseUrl": "https://api.example.com/v1", field: "http://169.254.169.254/"}
    response = local("providers").post("/", json=body, headers=accounts["admin"].headers)
    assert response.status_code == 400 and response.get_json()["error"]["message"].startswith(field)


def test_model_endpoint_url_is_checked(local, providers, accounts, production) -> None:
    body = {"id": "evil-model", "name": "m", "provider": "openai", "endpointURL": "http://169.254.169.254/v1"}
    response = local("models").post("/", json=body, headers=accounts["admin"].headers)
    assert response.status_code == 400 and response.get_json()["error"]["message"].startswith("endpointURL")


def test_console_edit_to_metadata_server_is_never_called(local, providers, accounts, production) -> None:
    """A document typed in the console skips the API: it is refused when read, and nothing is sent."""
    _point("openai", "http://169.254.169.254/v1")
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "UNAVAILABLE"


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f000001", "127.1"])
def test_name_resolving_to_loopback_is_refused_at_connect_time(local, providers, accounts, production, host: str) -> None:
    """Names and the numeric spellings the resolver turns into 127.0.0.1 pass the write check and fail on connect."""
    port = providers["openai"].url.rsplit(":", 1)[1]
    _point("openai", f"http://{host}:{port}/v1")
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 502, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "PROVIDER_ERROR" and "may not call" in error["message"]
    assert "127.0.0.1" not in json.dumps(error)  # the user learns nothing of the network
    assert providers["openai"].state["requests"] == []  # not one byte (nor the key) left


def test_streams_are_refused_alike(local, providers, accounts, production) -> None:
    port = providers["anthropic"].url.rsplit(":", 1)[1]
    _point("anthropic", f"http://localhost:{port}")
    response = _post(local, accounts["user"], modelId="anthropic-chat", prompt="hi", stream=True)
    assert response.status_code == 502 and providers["anthropic"].state["requests"] == []


@pytest.mark.parametrize("allow", ["localhost", "127.0.0.0/8"])
def test_allow_list_param_admits_a_private_host(local, providers, accounts, production, monkeypatch, allow: str) -> None:
    port = providers["openai"].url.rsplit(":", 1)[1]
    _point("openai", f"http://localhost:{port}/v1")
    monkeypatch.setenv("OUTBOUND_PRIVATE_HOSTS", f"ollama.internal, {allow}")
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 200, response.get_data(as_text=True)


def test_link_local_stays_refused_even_when_listed(local, providers, accounts, production, monkeypatch) -> None:
    monkeypatch.setenv("OUTBOUND_PRIVATE_HOSTS", "169.254.0.0/16,metadata.google.internal")
    body = {"id": "evil", "type": "openai-compatible", "baseUrl": "http://169.254.169.254/v1"}
    assert local("providers").post("/", json=body, headers=accounts["admin"].headers).status_code == 400
    body["baseUrl"] = "http://metadata.google.internal/v1"
    assert local("providers").post("/", json=body, headers=accounts["admin"].headers).status_code == 400


def test_provider_test_and_health_report_refusal(local, providers, accounts, production) -> None:
    port = providers["openai"].url.rsplit(":", 1)[1]
    _point("openai", f"http://localhost:{port}/v1")
    report = local("providers").post("/openai/test", headers=accounts["admin"].headers).get_json()
    assert report["reachable"] is False and "loopback" in report["error"]
    health = local("health").get("/").get_json()
    assert health["providers"]["openai"] == {**health["providers"]["openai"], "status": "unhealthy", "error": "address not allowed"}
    assert providers["openai"].state["requests"] == []


def test_health_check_url_is_guarded(local, providers, accounts, production) -> None:
    port = providers["ollama"].url.rsplit(":", 1)[1]
    _point("ollama", f"http://localhost:{port}", healthCheckUrl=f"http://localhost:{port}/api/version")
    assert local("health").get("/").get_json()["providers"]["ollama"]["error"] == "address not allowed"
    assert providers["ollama"].state["requests"] == []


def test_redirect_is_not_followed(local, providers, accounts) -> None:
    """A provider answering 302 elsewhere: the gateway stops there; the other host gets nothing (and no key)."""
    providers["openai"].state["faults"] = [{"redirect": f"{providers['lmstudio'].url}/v1/chat/completions"}]
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 502
    assert "redirect" in response.get_json()["error"]["message"]
    assert providers["lmstudio"].state["requests"] == []


def _model_on_other_host(providers: dict[str, Any], **provider_fields: Any) -> None:
    """``openai-chat`` served from another host than its provider's baseUrl (localhost vs 127.0.0.1)."""
    from gateway import firebase, providers_store
    from gateway.registry import registry

    port = providers["lmstudio"].url.rsplit(":", 1)[1]
    firebase.db().collection("models").document("openai-chat").update({"endpointURL": f"http://localhost:{port}/v1"})
    if provider_fields:
        firebase.db().collection("providers").document("openai").update(provider_fields)
        _rebind("openai")
    providers_store.invalidate()
    registry().invalidate()


def test_key_is_withheld_from_another_host(local, providers, accounts) -> None:
    _model_on_other_host(providers)
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 200  # that endpoint needs no key
    sent = providers["lmstudio"].state["requests"][0]["headers"]
    assert "Authorization" not in sent and KEYS["openai"] not in json.dumps(sent)


def test_allowed_hosts_let_the_key_go_there(local, providers, accounts) -> None:
    _model_on_other_host(providers, allowedHosts=["localhost"])
    assert _post(local, accounts["user"], modelId="openai-chat", prompt="hi").status_code == 200
    assert providers["lmstudio"].state["requests"][0]["headers"]["Authorization"] == f"Bearer {KEYS['openai']}"


def test_allowed_hosts_are_host_names(local, providers, accounts) -> None:
    body = {"id": "acme", "type": "openai", "baseUrl": "https://api.example.com/v1", "allowedHosts": ["https://evil.example/x"]}
    response = local("providers").post("/", json=body, headers=accounts["admin"].headers)
    assert response.status_code == 400 and response.get_json()["error"]["message"].startswith("allowedHosts.0")


def test_oversized_answer_is_a_502(local, providers, accounts, monkeypatch) -> None:
    from gateway.providers import base

    monkeypatch.setattr(base, "MAX_BODY_BYTES", 100)
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 502
    assert "exceeds 100 bytes" in response.get_json()["error"]["message"]


def test_oversized_image_is_a_502(local, providers, accounts, monkeypatch) -> None:
    from gateway import firebase
    from gateway.providers import base
    from gateway.registry import registry

    firebase.db().collection("models").document("hf-image").set({"name": "sd", "provider": "huggingface", "type": "image", "enabled": True, "pricing": {"perImage": 0.01}})
    registry().invalidate()
    monkeypatch.setattr(base, "MAX_BODY_BYTES", 1000)
    response = local("generate_image").post("/", json={"modelId": "hf-image", "prompt": "a cat"}, headers=accounts["user"].headers)
    assert response.status_code == 502 and "exceeds" in response.get_json()["error"]["message"]


def test_overlong_stream_line_is_refused(local, providers, accounts, monkeypatch) -> None:
    from gateway.providers import base

    monkeypatch.setattr(base, "MAX_LINE_BYTES", 40)
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi", stream=True)
    assert response.status_code == 502
    assert "line longer than 40 bytes" in response.get_json()["error"]["message"]


def test_overlong_stream_ends_with_an_error_and_closes_the_upstream(local, providers, accounts, monkeypatch) -> None:
    from gateway.providers import base

    monkeypatch.setattr(base, "MAX_STREAM_BYTES", 2000)
    providers["ollama"].state.update({"reply": " ".join(["word"] * 1000), "chunk_delay": 0.005})  # 5 s of stream
    events = _events(_post(local, accounts["user"], modelId="ollama-chat", prompt="hi", stream=True))
    errors = [d for e, d in events if e == "error"]
    assert len(errors) == 1 and "exceeds 2000 bytes" in errors[0]["error"]["message"]
    assert not [d for e, d in events if isinstance(d, dict) and d.get("done")]
    deadline = time.monotonic() + 3  # the fake notices at its next write into the closed connection
    while time.monotonic() < deadline and not providers["ollama"].state.get("disconnected"):
        time.sleep(0.02)
    assert providers["ollama"].state.get("disconnected") is True


@pytest.mark.parametrize(("address", "reason"), [("2002:7f00:1::", "loopback"), ("2002:a9fe:a9fe::", "link-local"), ("64:ff9b::a00:1", "private")])
def test_name_resolving_to_an_ipv6_address_carrying_a_refused_ipv4_is_refused(
    local, providers, accounts, production, monkeypatch, address: str, reason: str
) -> None:
    """6to4 and NAT64 answers of a resolver are judged by the IPv4 address inside them, at connect time too."""
    import socket

    from gateway import dialer

    real = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "tunnel.example.com":
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 80, 0, 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(dialer.socket, "getaddrinfo", resolve)
    _point("openai", "http://tunnel.example.com/v1")
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 502, response.get_data(as_text=True)
    assert "may not call" in response.get_json()["error"]["message"]
    out = response.get_data(as_text=True)
    assert address not in out and reason not in out  # the log has the address; the user learns nothing of the network
