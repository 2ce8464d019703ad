"""The registry in-process: Firestore reads counted by a spy on the client, pagination, bad documents."""

from __future__ import annotations

import time
from typing import Any

import pytest


@pytest.fixture
def reads(monkeypatch) -> dict[str, int]:
    """Counts every document read and query this process sends to Firestore.

    ``CollectionReference.stream`` goes through ``Query.stream``, so that one spy sees every query.
    """
    from google.cloud.firestore_v1.document import DocumentReference
    from google.cloud.firestore_v1.query import Query

    counts = {"get": 0, "stream": 0}

    def spy(cls: type, name: str, key: str) -> None:
        original = getattr(cls, name)

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts[key] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)

    spy(DocumentReference, "get", "get")
    spy(Query, "stream", "stream")
    return counts


def _create(local, admin, model_id: str, **fields: Any) -> dict[str, Any]:
    spec = {"id": model_id, "name": model_id, "provider": "ollama", **fields}
    response = local("models").post("/", json=spec, headers=admin.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_warm_requests_read_nothing_and_writes_invalidate(local, clean, accounts, reads) -> None:
    admin, user = accounts["admin"], accounts["user"]
    _create(local, admin, "alpha")
    _create(local, admin, "beta")

    first = local("models").get("/", headers=user.headers)
    assert first.status_code == 200 and len(first.get_json()["models"]) == 2
    cold = dict(reads)
    assert cold["stream"] >= 1

    for _ in range(3):
        assert local("models").get("/", headers=user.headers).status_code == 200
        assert local("models").get("/alpha", headers=user.headers).status_code == 200
    assert reads == cold, "a warm request read Firestore"

    patched = local("models").patch("/alpha", json={"displayName": "Alpha!"}, headers=admin.headers)
    assert patched.status_code == 200
    after_write = dict(reads)
    listing = local("models").get("/", headers=user.headers).get_json()["models"]
    assert reads["stream"] == after_write["stream"] + 1, "the write did not invalidate the list"
    assert [m["displayName"] for m in listing] == ["Alpha!", "beta"]


def test_unknown_ids_read_nothing(local, clean, accounts, reads) -> None:
    user = accounts["user"]
    local("models").get("/", headers=user.headers)  # warm: the listener holds the collection
    before = dict(reads)
    for _ in range(3):
        assert local("models").get("/nope", headers=user.headers).status_code == 404
    assert reads == before


def _until(predicate: Any, seconds: float = 2.0) -> float:
    """Seconds until ``predicate()`` held; fails after ``seconds``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < seconds, "not seen within the bound"
        time.sleep(0.01)
    return time.monotonic() - started


def test_console_edits_are_pushed_without_reads(local, clean, accounts, reads) -> None:
    """A hand edit (another process's write) reaches this instance by its listener: no read, no invalidation."""
    from gateway import firebase, limits, providers_store

    user = accounts["user"]
    db = firebase.db()
    db.collection("models").document("pushed").set({"name": "p", "provider": "ollama"})
    listing = lambda: [m["id"] for m in local("models").get("/", headers=user.headers).get_json()["models"]]  # noqa: E731
    _until(lambda: listing() == ["pushed"])
    assert limits.config().perMinute == {} and providers_store.get("ollama") is not None
    before = dict(reads)

    db.collection("models").document("pushed").update({"enabled": False})
    _until(lambda: listing() == [])
    db.collection("providers").document("ollama").update({"enabled": False})
    _until(lambda: not providers_store.get("ollama").enabled)
    db.collection("config").document("limits").set({"perMinute": {"generate_text": 7}})
    _until(lambda: limits.limit_for("generate_text", "user", None) == (7, None))
    db.collection("config").document("limits").delete()
    _until(lambda: limits.limit_for("generate_text", "user", None) == (100, None))
    assert reads == before, "a pushed change was read from Firestore"


def test_listener_down_falls_back_to_direct_reads(local, clean, accounts) -> None:
    """With its listener gone, an instance re-reads at most every 2 s and restarts the listener within 5 s."""
    from gateway import firebase, live
    from gateway.registry import registry

    models = registry()
    models.all()
    watch = models._live._watch
    watch.close()  # what a stream that failed for good leaves behind
    assert not watch.is_active
    firebase.db().collection("models").document("late").set({"name": "l", "provider": "ollama"})
    waited = _until(lambda: "late" in models.all(), seconds=live.DOWN_REREAD_SECONDS + 1)
    assert waited <= live.DOWN_REREAD_SECONDS + 0.5
    _until(lambda: models.all() is not None and models._live._listening(), seconds=live.RETRY_SECONDS + 1)
    assert models._live._watch is not watch, "the listener was not restarted"


def _live_on(collection: str) -> Any:
    """A :class:`gateway.live.Live` of its own on ``collection`` (parsed as plain dicts), listening."""
    from gateway import live

    held = live.Live(collection, lambda doc_id, data: data)
    held.current()
    _until(held._listening)
    return held


def test_an_empty_read_does_not_hide_a_document_pushed_meanwhile(local, clean, monkeypatch) -> None:
    """A direct read of an empty collection carries no time; a first document the listener pushed while that
    read was under way must not be replaced by the read's older 'nothing' (it would hide until the safety net)."""
    from gateway import firebase

    db = firebase.db()
    held = _live_on("livetests-empty")
    assert held.current() == {}
    real_ref = held._ref

    class ReadThenPush:
        """The real read, then (before it is applied) a real write and its real push."""

        def get(self) -> Any:
            answer = real_ref().get()
            pushes = held.pushes
            db.collection("livetests-empty").document("first").set({"n": 1})
            _until(lambda: held.pushes > pushes)
            return answer

    monkeypatch.setattr(held, "_ref", ReadThenPush)
    try:
        held.invalidate()  # the next current() reads directly
        assert held.current() == {"first": {"n": 1}}
    finally:
        held.close()
        db.collection("livetests-empty").document("first").delete()


def test_the_safety_net_reread_does_not_hold_other_requests(local, clean, monkeypatch) -> None:
    """Every REGISTRY_CACHE_SECONDS one request re-reads the collection; the others serve what is held meanwhile."""
    import threading

    from gateway import firebase, live

    firebase.db().collection("livetests-slow").document("a").set({"n": 1})
    held = _live_on("livetests-slow")
    real_ref = held._ref
    release, reading = threading.Event(), threading.Event()

    class SlowRead:
        def get(self) -> Any:
            reading.set()
            assert release.wait(10)
            return real_ref().get()

    monkeypatch.setattr(held, "_ref", SlowRead)
    monkeypatch.setenv("REGISTRY_CACHE_SECONDS", "0")  # every request is due for the safety-net read ...
    monkeypatch.setattr(live, "DOWN_REREAD_SECONDS", 0.0)  # ... even right after the listener's push
    try:
        rereader = threading.Thread(target=held.current)
        rereader.start()
        assert reading.wait(5)
        started = time.monotonic()
        assert held.current() == {"a": {"n": 1}}  # while the re-read hangs
        assert time.monotonic() - started < 1
        release.set()
        rereader.join(10)
        assert held.reads >= 1
    finally:
        release.set()
        held.close()
        firebase.db().collection("livetests-slow").document("a").delete()


def test_pagination_filters_and_sort(local, clean, accounts) -> None:
    admin, viewer = accounts["admin"], accounts["viewer"]
    for i in range(7):
        _create(local, admin, f"text-{i}", capabilities=["chat"] if i % 2 else [])
    _create(local, admin, "image-1", type="image")
    _create(local, admin, "hidden", enabled=False)

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"limit": 3, **({"pageToken": token} if token else {})}
        body = local("models").get("/", query_string=query, headers=viewer.headers).get_json()
        seen += [m["id"] for m in body["models"]]
        pages += 1
        token = body["nextPageToken"]
        if not token:
            break
    assert pages == 3
    assert seen == ["image-1", *[f"text-{i}" for i in range(7)]]

    def ids(query: dict[str, Any], who=viewer) -> list[str]:
        response = local("models").get("/", query_string=query, headers=who.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [m["id"] for m in response.get_json()["models"]]

    assert ids({"type": "image"}) == ["image-1"]
    assert ids({"capability": "chat"}) == ["text-1", "text-3", "text-5"]
    assert ids({"provider": "lmstudio"}) == []
    assert ids({"sort": "-name", "limit": 2}) == ["text-6", "text-5"]
    assert ids({"sort": "createdAt", "limit": 2}) == ["text-0", "text-1"]
    assert "hidden" not in ids({"limit": 100})
    assert ids({"enabled": "false"}, who=admin) == ["hidden"]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"sort": "price"}, "sort"), ({"type": "x"}, "type"),
     ({"pageToken": "garbage"}, "pageToken"), ({"colour": "red"}, "colour")],
)
def test_bad_list_query_is_400(local, clean, accounts, query: dict[str, Any], field: str) -> None:
    response = local("models").get("/", query_string=query, headers=accounts["user"].headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith(f"{field}:")


def test_page_token_of_another_sort_is_400(local, clean, accounts) -> None:
    for i in range(3):
        _create(local, accounts["admin"], f"m-{i}")
    token = local("models").get("/", query_string={"limit": 1}, headers=accounts["user"].headers).get_json()["nextPageToken"]
    response = local("models").get("/", query_string={"limit": 1, "sort": "createdAt", "pageToken": token}, headers=accounts["user"].headers)
    assert response.status_code == 400


def test_hand_edited_documents_are_validated_on_read(local, clean, accounts) -> None:
    """Console edits: a bad document is skipped, unknown keys ignored, missing fields defaulted."""
    from gateway import firebase

    models = firebase.db().collection("models")
    models.document("broken").set({"name": "x", "provider": "ollama", "config": {"temperature": "hot"}})
    models.document("sparse").set({"provider": "ollama"})
    models.document("extra").set({"name": "e", "provider": "ollama", "colour": "red", "config": {"maxTokens": 5, "foo": 1}})
    models.document("wrong-type").set({"name": 42, "provider": "ollama"})

    body = local("models").get("/", headers=accounts["user"].headers).get_json()
    by_id = {m["id"]: m for m in body["models"]}
    assert set(by_id) == {"sparse", "extra"}
    assert by_id["sparse"]["name"] == "sparse" and by_id["sparse"]["type"] == "text" and by_id["sparse"]["enabled"] is True
    assert by_id["extra"]["config"] == {"maxTokens": 5} and "colour" not in by_id["extra"]
    assert local("models").get("/broken", headers=accounts["admin"].headers).status_code == 404
