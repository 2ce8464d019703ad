"""Console edits are audited by the Firestore trigger running in the Functions emulator; API writes once."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests
from google.cloud.firestore_v1.base_query import FieldFilter


def _records(doc_id: str) -> list[dict[str, Any]]:
    from gateway import firebase

    query = firebase.db().collection("audit").where(filter=FieldFilter("docId", "==", doc_id))
    return sorted((r.to_dict() for r in query.stream()), key=lambda r: r["at"])


def _wait_for(doc_id: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = _records(doc_id)
        if len(records) >= count:
            return records
        time.sleep(0.25)
    return _records(doc_id)


def test_console_create_update_delete_are_audited(emulators) -> None:
    from gateway import firebase

    doc_id = f"console-{uuid.uuid4().hex[:8]}"
    ref = firebase.db().collection("models").document(doc_id)
    ref.set({"name": "by-hand", "provider": "ollama", "enabled": True})
    assert [r["action"] for r in _wait_for(doc_id, 1)] == ["create"]
    ref.update({"enabled": False})
    assert [r["action"] for r in _wait_for(doc_id, 2)] == ["create", "update"]
    ref.delete()
    records = _wait_for(doc_id, 3)
    assert [r["action"] for r in records] == ["create", "update", "delete"]
    assert all(r["actor"] == "console" and r["via"] == "console" for r in records)
    assert records[1]["before"]["enabled"] is True and records[1]["after"]["enabled"] is False
    assert records[2]["after"] is None


def test_api_writes_are_not_audited_twice(emulators, accounts) -> None:
    from seed import load

    load.load_providers(actor="test")
    doc_id = f"api-{uuid.uuid4().hex[:8]}"
    url = emulators.url("models")
    admin = accounts["admin"].headers
    requests.post(url, json={"id": doc_id, "name": "n", "provider": "ollama"}, headers=admin, timeout=30).raise_for_status()
    requests.patch(f"{url}/{doc_id}", json={"displayName": "N"}, headers=admin, timeout=30).raise_for_status()
    requests.delete(f"{url}/{doc_id}", headers=admin, timeout=30).raise_for_status()
    # A console edit on another document proves the trigger ran meanwhile.
    from gateway import firebase

    marker = f"console-{uuid.uuid4().hex[:8]}"
    firebase.db().collection("models").document(marker).set({"name": "m", "provider": "ollama"})
    assert _wait_for(marker, 1)
    time.sleep(1)
    records = _records(doc_id)
    assert [(r["action"], r["via"]) for r in records] == [("create", "api"), ("update", "api"), ("delete", "api")]


def _deliver(client: Any, event_id: str, doc_id: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
    """POST one Firestore ``written`` CloudEvent to the trigger, as Eventarc does: binary mode, protobuf data."""
    from datetime import datetime, timezone

    from google.events.cloud.firestore import Document, DocumentEventData, Value

    from gateway import firebase

    project = firebase.app().project_id
    name = f"projects/{project}/databases/(default)/documents/models/{doc_id}"

    def document(fields: dict[str, Any] | None, seconds: int) -> Document | None:
        if fields is None:
            return None
        values = {k: Value(boolean_value=v) if isinstance(v, bool) else Value(string_value=v) for k, v in fields.items()}
        stamp = {"seconds": seconds}
        return Document(name=name, fields=values, create_time={"seconds": 1_700_000_000}, update_time=stamp)

    data = DocumentEventData(value=document(after, 1_700_000_002), old_value=document(before, 1_700_000_001))
    headers = {
        "ce-id": event_id, "ce-specversion": "1.0", "ce-type": "google.cloud.firestore.document.v1.written",
        "ce-source": f"//firestore.googleapis.com/projects/{project}/databases/(default)", "ce-subject": f"documents/models/{doc_id}",
        "ce-time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"), "ce-location": "us-central1",
        "ce-project": project, "ce-namespace": "(default)", "ce-database": "(default)", "ce-document": f"models/{doc_id}",
        "Content-Type": "application/protobuf",
    }
    return client.post("/", data=DocumentEventData.serialize(data), headers=headers).status_code


@pytest.fixture(scope="module")
def trigger(stack) -> Any:
    """``audit_model_edits`` served in this process the way Cloud Run serves it: functions-framework, signature cloudevent."""
    import os
    from pathlib import Path

    import functions_framework

    saved = {key: value for key, value in os.environ.items() if key.startswith("FUNCTION_")}
    try:
        app = functions_framework.create_app("audit_model_edits", str(Path(__file__).parent.parent / "functions" / "main.py"), "cloudevent")
    finally:
        for key in [key for key in os.environ if key.startswith("FUNCTION_")]:
            del os.environ[key]
        os.environ.update(saved)
    return app.test_client()


@pytest.mark.parametrize(
    ("before", "after", "action"),
    [(None, {"name": "by-hand", "provider": "ollama"}, "create"),
     ({"name": "by-hand", "enabled": True}, {"name": "by-hand", "enabled": False}, "update"),
     ({"name": "by-hand"}, None, "delete")],
    ids=["create", "update", "delete"],
)
def test_an_event_delivered_twice_is_audited_once(emulators, trigger, before, after, action: str) -> None:
    """Eventarc delivers at least once: a redelivery (same event id) finds its record and writes none."""
    doc_id = f"redelivered-{uuid.uuid4().hex[:8]}"  # no such document: the real trigger never sees this event
    event_id = f"{uuid.uuid4()}"
    assert _deliver(trigger, event_id, doc_id, before, after) == 200
    assert _deliver(trigger, event_id, doc_id, before, after) == 200
    records = _records(doc_id)
    assert [(r["action"], r["via"]) for r in records] == [(action, "console")]
    # A different event about the same document is a different edit, recorded apart.
    if action != "delete":
        assert _deliver(trigger, f"{uuid.uuid4()}", doc_id, before, after) == 200
        assert len(_records(doc_id)) == 2
