"""Console edits are audited by the Firestore trigger running in the Functions emulator; API writes once."""

from __future__ import annotations

import time
import uuid
from typing import Any

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
