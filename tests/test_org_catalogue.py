"""Org-owned models, providers and keys, and sharing of project-wide models, on the real emulators (in-process functions).

Organisation ``acme`` has its own provider (``acme-llm``, an OpenAI-compatible fake that records the key it is sent)
and model (``acme-chat``), and is shared the project-wide ``openai-chat``; ``globex`` is another organisation.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import eventually

ACME, GLOBEX = "acme", "globex"
ACME_KEY = "sk-acme-own-key-0123456789"


@pytest.fixture(scope="module")
def people(emulators, accounts) -> dict[str, Any]:
    made = {name: emulators.sign_up("user", f"{name}-catalogue@test.example") for name in ("owner", "orgadmin", "member", "rival", "loner")}
    return {"admin": accounts["admin"], **made}


def _org(org_id: str, members: dict[str, Any], shared: list[str] | None = None) -> None:
    from gateway import audit, firebase, orgs

    firebase.db().collection("orgs").document(org_id).set(
        {"name": org_id.title(), "settings": {"sharedModels": shared or []}, "createdAt": audit.now(), "createdBy": "test"}
    )
    for role, account in members.items():
        orgs.member_ref(org_id, account.uid).set({"uid": account.uid, "role": role, "email": account.email, "addedAt": audit.now(), "addedBy": "test"})


@pytest.fixture
def tenants(providers, people) -> dict[str, Any]:
    """acme (owner, admin, member; shared openai-chat) and globex (rival as member), with no catalogue of their own yet."""
    from gateway import orgs

    _org(ACME, {"owner": people["owner"], "admin": people["orgadmin"], "member": people["member"]}, ["openai-chat"])
    _org(GLOBEX, {"member": people["rival"]})
    orgs.forget()
    return {**people, "upstreams": providers}


def _h(account: Any, org: str | None = None) -> dict[str, str]:
    return {**account.headers, **({"X-Org-Id": org} if org else {})}


def _field(response: Any) -> str:
    return response.get_json()["error"]["details"]["fields"][0]["field"]


def _acme_catalogue(local, tenants) -> None:
    """acme's provider (with its own key, via the API) and model, created by an org admin (project role: user)."""
    url = tenants["upstreams"]["lmstudio"].url
    provider = {"id": "acme-llm", "type": "openai", "baseUrl": f"{url}/v1", "apiKey": ACME_KEY}
    created = local("providers").post("/", json=provider, headers=_h(tenants["orgadmin"], ACME))
    assert created.status_code == 201, created.get_data(as_text=True)
    model = {"id": "acme-chat", "name": "acme-model", "provider": "acme-llm", "config": {"maxTokens": 32}, "pricing": {"inputPer1M": 1, "outputPer1M": 2}}
    made = local("models").post("/", json=model, headers=_h(tenants["orgadmin"], ACME))
    assert made.status_code == 201, made.get_data(as_text=True)


def test_org_admins_manage_their_catalogue_with_org_secrets_and_audit(local, tenants) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import firebase

    url = tenants["upstreams"]["lmstudio"].url
    body = {"id": "acme-llm", "type": "openai", "baseUrl": f"{url}/v1", "apiKey": ACME_KEY}
    for who, org in (("orgadmin", None), ("member", ACME), ("rival", ACME), ("rival", GLOBEX)):  # no org, not a manager, not theirs
        assert local("providers").post("/", json=body, headers=_h(tenants[who], org)).status_code == 403, (who, org)
    created = local("providers").post("/", json=body, headers=_h(tenants["orgadmin"], ACME))
    assert created.status_code == 201, created.get_data(as_text=True)
    answer = created.get_json()
    assert answer["org"] == ACME and answer["secretName"] == "AI_GATEWAY_ORG_ACME__ACME_LLM" and answer["hasKey"] is True
    db = firebase.db()
    assert db.collection("orgs").document(ACME).collection("providers").document("acme-llm").get().exists
    assert not db.collection("providers").document("acme-llm").get().exists  # not project-wide

    model = {"id": "acme-chat", "name": "acme-model", "provider": "acme-llm"}
    made = local("models").post("/", json=model, headers=_h(tenants["owner"], ACME))
    assert made.status_code == 201 and made.get_json()["org"] == ACME
    assert local("models").patch("/acme-chat", json={"displayName": "Acme chat"}, headers=_h(tenants["orgadmin"], ACME)).status_code == 200
    assert local("models").patch("/acme-chat", json={"enabled": False}, headers=_h(tenants["member"], ACME)).status_code == 403
    assert local("models").patch("/acme-chat", json={"enabled": False}, headers=_h(tenants["admin"])).status_code == 404  # project-wide: none
    # The project admin acts in any organisation.
    assert local("models").patch("/acme-chat", json={"enabled": True}, headers=_h(tenants["admin"], ACME)).status_code == 200
    listed = local("providers").get("/", headers=_h(tenants["orgadmin"], ACME)).get_json()["providers"]
    assert [p["id"] for p in listed] == ["acme-llm"]  # its own only: no project provider
    assert "acme-llm" not in {p["id"] for p in local("providers").get("/", headers=_h(tenants["admin"])).get_json()["providers"]}
    assert local("providers").get("/acme-llm", headers=_h(tenants["admin"], GLOBEX)).status_code == 404

    assert local("models").delete("/acme-chat", headers=_h(tenants["orgadmin"], ACME)).status_code == 204
    assert not db.collection("orgs").document(ACME).collection("models").document("acme-chat").get().exists
    records = [r.to_dict() for r in db.collection("audit").where(filter=FieldFilter("docId", "==", "acme-chat")).stream()]
    assert sorted(r["action"] for r in records) == ["create", "delete", "update", "update"]
    assert {r["org"] for r in records} == {ACME} and {r["collection"] for r in records} == {"orgs/acme/models"}


def test_org_model_must_use_a_provider_of_its_org(local, tenants) -> None:
    _acme_catalogue(local, tenants)
    refused = local("models").post("/", json={"id": "sneaky", "name": "x", "provider": "openai"}, headers=_h(tenants["orgadmin"], ACME))
    assert refused.status_code == 400 and _field(refused) == "provider", refused.get_data(as_text=True)
    # Nor may a project-wide model (or another org's) use acme's provider.
    assert _field(local("models").post("/", json={"id": "p", "name": "x", "provider": "acme-llm"}, headers=_h(tenants["admin"]))) == "provider"
    _org(GLOBEX, {"member": tenants["rival"], "admin": tenants["loner"]})
    other = local("models").post("/", json={"id": "g", "name": "x", "provider": "acme-llm"}, headers=_h(tenants["loner"], GLOBEX))
    assert other.status_code == 400 and _field(other) == "provider"
    patched = local("models").patch("/acme-chat", json={"provider": "openai"}, headers=_h(tenants["orgadmin"], ACME))
    assert patched.status_code == 400 and _field(patched) == "provider"
    fallback = local("models").patch("/acme-chat", json={"fallbacks": ["openai-chat"]}, headers=_h(tenants["orgadmin"], ACME))
    assert fallback.status_code == 400 and _field(fallback) == "fallbacks"  # a fallback is a model of the same catalogue


def test_members_see_and_call_their_own_and_shared_models_only(local, tenants) -> None:
    _acme_catalogue(local, tenants)
    member, rival, loner = tenants["member"], tenants["rival"], tenants["loner"]

    def listed(account: Any, org: str | None) -> dict[str, Any]:
        return {m["id"]: m for m in local("models").get("/", headers=_h(account, org)).get_json()["models"]}

    mine = eventually(lambda: (lambda got: got if set(got) == {"acme-chat", "openai-chat"} else (_ for _ in ()).throw(AssertionError(got)))(listed(member, ACME)))
    assert mine["acme-chat"]["org"] == ACME and mine["openai-chat"]["org"] is None  # the shared one: project-wide
    assert "acme-chat" not in listed(rival, GLOBEX) and "openai-chat" not in listed(rival, GLOBEX)
    assert "acme-chat" not in listed(loner, None) and "openai-chat" in listed(loner, None)
    for account, org, model_id in ((member, ACME, "ollama-chat"), (rival, GLOBEX, "acme-chat"), (loner, None, "acme-chat"), (rival, GLOBEX, "openai-chat")):
        assert local("models").get(f"/{model_id}", headers=_h(account, org)).status_code == 404, (org, model_id)

    text = local("generate_text")
    answer = text.post("/", json={"modelId": "acme-chat", "prompt": "hi"}, headers=_h(member, ACME))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["provider"] == "acme-llm"
    sent = tenants["upstreams"]["lmstudio"].state["requests"][-1]
    assert sent["headers"].get("Authorization") == f"Bearer {ACME_KEY}"  # the org's own key, from AI_GATEWAY_ORG_ACME__ACME_LLM
    assert text.post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=_h(member, ACME)).status_code == 200  # shared
    for account, org, model_id in ((member, ACME, "ollama-chat"), (rival, GLOBEX, "acme-chat"), (loner, None, "acme-chat"), (rival, GLOBEX, "openai-chat")):
        refused = text.post("/", json={"modelId": model_id, "prompt": "hi"}, headers=_h(account, org))
        assert refused.status_code == 404, (org, model_id, refused.get_data(as_text=True))

    openai = local("openai")
    ids = {m["id"] for m in openai.get("/v1/models", headers=_h(member, ACME)).get_json()["data"]}
    assert ids == {"acme-chat", "openai-chat"}
    assert "acme-chat" not in {m["id"] for m in openai.get("/v1/models", headers=_h(rival, GLOBEX)).get_json()["data"]}
    chat = openai.post("/v1/chat/completions", json={"model": "acme-chat", "messages": [{"role": "user", "content": "hi"}]}, headers=_h(member, ACME))
    assert chat.status_code == 200, chat.get_data(as_text=True)
    for account, org in ((rival, GLOBEX), (loner, None)):
        refused = openai.post("/v1/chat/completions", json={"model": "acme-chat", "messages": [{"role": "user", "content": "hi"}]}, headers=_h(account, org))
        assert refused.status_code == 404 and "acme" not in refused.get_data(as_text=True).replace("acme-chat", "")
        assert openai.get("/v1/models/acme-chat", headers=_h(account, org)).status_code == 404


def test_own_id_wins_over_a_shared_one_and_fallbacks_stay_in_the_org(local, tenants) -> None:
    _acme_catalogue(local, tenants)
    # acme's own "openai-chat" shadows the shared project-wide one of the same id.
    own = {"id": "openai-chat", "name": "acme-shadow", "provider": "acme-llm", "config": {"maxTokens": 32}, "pricing": {"inputPer1M": 1, "outputPer1M": 2}}
    assert local("models").post("/", json=own, headers=_h(tenants["orgadmin"], ACME)).status_code == 201
    got = local("models").get("/openai-chat", headers=_h(tenants["member"], ACME)).get_json()
    assert got["org"] == ACME and got["name"] == "acme-shadow"
    answer = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=_h(tenants["member"], ACME))
    assert answer.status_code == 200 and answer.get_json()["provider"] == "acme-llm"


def test_a_project_model_not_shared_is_out_of_reach_until_shared(local, tenants) -> None:
    from gateway import firebase

    member = tenants["member"]
    assert local("generate_text").post("/", json={"modelId": "anthropic-chat", "prompt": "hi"}, headers=_h(member, ACME)).status_code == 404
    firebase.db().collection("orgs").document(ACME).update({"settings.sharedModels": ["openai-chat", "anthropic-chat"]})
    eventually(lambda: _ok(local("generate_text").post("/", json={"modelId": "anthropic-chat", "prompt": "hi"}, headers=_h(member, ACME))))


def _ok(response: Any) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)


def test_deletes_refused_or_cascaded_while_something_depends(local, tenants) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import firebase

    _acme_catalogue(local, tenants)
    admin = tenants["admin"]
    shared = local("models").delete("/openai-chat", headers=_h(admin))
    assert shared.status_code == 409 and shared.get_json()["error"]["details"]["sharedWith"] == [ACME]
    assert firebase.db().collection("models").document("openai-chat").get().exists
    # A model named as a fallback: deleted, and dropped from the fallbacks naming it, audited, in one transaction.
    assert local("models").patch("/ollama-chat", json={"fallbacks": ["anthropic-chat", "gemini-chat"]}, headers=_h(admin)).status_code == 200
    assert local("models").delete("/anthropic-chat", headers=_h(admin)).status_code == 204
    assert firebase.db().collection("models").document("ollama-chat").get().to_dict()["fallbacks"] == ["gemini-chat"]
    pruned = [r.to_dict() for r in firebase.db().collection("audit").where(filter=FieldFilter("docId", "==", "ollama-chat")).stream()]
    pruned = [r for r in pruned if r["via"] == "api"]  # the fixture's own writes are audited by the console trigger too
    assert any(r["after"]["fallbacks"] == ["gemini-chat"] and r["before"]["fallbacks"] == ["anthropic-chat", "gemini-chat"] for r in pruned)
    used = local("providers").delete("/acme-llm", headers=_h(tenants["orgadmin"], ACME))
    assert used.status_code == 409 and used.get_json()["error"]["details"]["models"] == ["acme-chat"]
    cascaded = local("providers").delete("/acme-llm?cascade=true", headers=_h(tenants["orgadmin"], ACME))
    assert cascaded.status_code == 200 and cascaded.get_json() == {"deleted": "acme-llm", "org": ACME, "disabledModels": ["acme-chat"]}


def test_org_ids_cannot_hold_a_double_dash(local, tenants) -> None:
    refused = local("orgs").post("/", json={"id": "a--b", "name": "Bad"}, headers=_h(tenants["admin"]))
    assert refused.status_code == 400 and _field(refused) == "id"
    assert local("orgs").post("/", json={"id": "a-b", "name": "Good"}, headers=_h(tenants["admin"])).status_code == 201


def test_secret_names_of_org_providers_never_collide() -> None:
    from gateway import secrets

    assert secrets.name_for("c", "a-b") == "AI_GATEWAY_ORG_A_B__C"
    assert secrets.name_for("b-c", "a") == "AI_GATEWAY_ORG_A__B_C"
    assert secrets.name_for("c", "a-b") != secrets.name_for("b-c", "a")
    assert secrets.name_for("openai", "acme") != secrets.name_for("openai") != secrets.name_for("openai", "globex")
    orgs = ["a", "ab", "a-b", "a-b-c", "ab-c", "a-bc", "x1-2y"]
    providers = ["c", "b-c", "b.c", "b_c", "c-d", "x", "b-c-d", "1"]
    by_name: dict[str, set[str]] = {}
    for org in orgs:
        for provider in providers:
            name = secrets.checked(secrets.name_for(provider, org))
            assert name.startswith(secrets.ORG_PREFIX)
            by_name.setdefault(name, set()).add(org)
    assert all(len(owners) == 1 for owners in by_name.values())  # two organisations never share a secret
    for bad in ("AI_GATEWAY_ORG_A", "AI_GATEWAY_ORG___B", "AI_GATEWAY_ORG_A___B", "AI_GATEWAY_ORG_A_B", "AI_GATEWAY_ORG_a__b"):
        with pytest.raises(ValueError):
            secrets.checked(bad)


def test_org_keys_come_from_the_environment_under_the_emulators(monkeypatch) -> None:
    from gateway import secrets

    name = secrets.name_for("local-llm", "acme")
    monkeypatch.setenv(name, "from-the-env-0123456789")
    assert secrets.from_environment(name) == "from-the-env-0123456789"


def test_a_demoted_org_admin_cannot_write_on_a_cached_role(local, tenants) -> None:
    from gateway import orgs

    _acme_catalogue(local, tenants)
    headers = _h(tenants["orgadmin"], ACME)
    assert local("models").get("/acme-chat", headers=headers).status_code == 200  # the org role is cached now
    orgs.member_ref(ACME, tenants["orgadmin"].uid).update({"role": "member"})  # as another instance would: this cache is not told
    refused = local("models").patch("/acme-chat", json={"enabled": False}, headers=headers)
    assert refused.status_code == 403, refused.get_data(as_text=True)


def test_set_secret_stores_an_org_providers_key(local, tenants) -> None:
    from gateway import firebase
    from seed import set_secret

    url = tenants["upstreams"]["lmstudio"].url
    firebase.db().collection("orgs").document(ACME).collection("providers").document("acme-llm").set({"type": "openai", "baseUrl": f"{url}/v1"})
    version = set_secret.store("acme-llm", ACME_KEY, ACME)
    assert "/secrets/AI_GATEWAY_ORG_ACME__ACME_LLM/versions/" in version
    model = {"id": "acme-chat", "name": "m", "provider": "acme-llm", "pricing": {"inputPer1M": 1, "outputPer1M": 2}}
    assert local("models").post("/", json=model, headers=_h(tenants["orgadmin"], ACME)).status_code == 201
    answer = local("generate_text").post("/", json={"modelId": "acme-chat", "prompt": "hi"}, headers=_h(tenants["member"], ACME))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert tenants["upstreams"]["lmstudio"].state["requests"][-1]["headers"].get("Authorization") == f"Bearer {ACME_KEY}"


@pytest.fixture
def reads(monkeypatch) -> dict[str, int]:
    """Every document read and query this process sends to Firestore (as tests/test_registry.py counts them)."""
    from google.cloud.firestore_v1.document import DocumentReference
    from google.cloud.firestore_v1.query import Query

    counts = {"get": 0, "stream": 0}
    for cls, name in ((DocumentReference, "get"), (Query, "stream")):
        original = getattr(cls, name)

        def counted(self: Any, *args: Any, _original: Any = original, _key: str = name, **kwargs: Any) -> Any:
            counts[_key] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)
    return counts


def test_a_warm_org_request_reads_nothing(local, tenants, reads) -> None:
    """In an organisation too: membership, both catalogues and sharedModels come from memory (listeners, caches)."""
    _acme_catalogue(local, tenants)
    headers = _h(tenants["member"], ACME)
    assert local("models").get("/", headers=headers).status_code == 200
    assert local("openai").get("/v1/models", headers=headers).status_code == 200
    cold = dict(reads)
    for _ in range(3):
        assert local("models").get("/", headers=headers).status_code == 200
        assert local("models").get("/openai-chat", headers=headers).status_code == 200
        assert local("models").get("/ollama-chat", headers=headers).status_code == 404  # not shared: no read to say so either
        assert local("openai").get("/v1/models/acme-chat", headers=headers).status_code == 200
    assert reads == cold, "a warm request in an organisation read Firestore"
