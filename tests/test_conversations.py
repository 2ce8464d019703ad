"""Conversation history: generate_text's conversationId / saveHistory, and the conversations function."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

REPLY = "Hello from the fake provider"


@pytest.fixture
def member(emulators) -> Any:
    return emulators.sign_up("user")


@pytest.fixture
def stranger(emulators) -> Any:
    return emulators.sign_up("user")


def _ask(local, account, **body: Any) -> Any:
    return local("generate_text").post("/", json={"modelId": "openai-chat", **body}, headers=account.headers)


def _events(response: Any) -> list[Any]:
    return [json.loads(line[5:]) for line in response.get_data(as_text=True).splitlines() if line.startswith("data:") and line != "data: [DONE]"]


def _sent(providers) -> list[dict[str, str]]:
    """The messages the fake provider received last."""
    return [{"role": m["role"], "content": m["content"]} for m in providers["openai"].state["requests"][-1]["body"]["messages"]]


def _conversation(uid: str, conversation_id: str) -> Any:
    from gateway import conversations

    return conversations.conversations(uid).document(conversation_id)


def _stored(uid: str, conversation_id: str) -> list[dict[str, Any]]:
    snaps = _conversation(uid, conversation_id).collection("messages").order_by("createdAt").stream()
    return [s.to_dict() for s in snaps]


def _seed(uid: str, conversation_id: str, contents: list[str], at: datetime | None = None) -> None:
    """A stored conversation written directly, alternating user and assistant messages."""
    from gateway import firebase

    at = at or datetime.now(timezone.utc) - timedelta(hours=1)
    ref = _conversation(uid, conversation_id)
    batch = firebase.db().batch()
    batch.set(ref, {"title": conversation_id, "modelId": "openai-chat", "createdAt": at, "updatedAt": at, "messageCount": len(contents), "totalTokens": 0, "cost": 0.0})
    for i, content in enumerate(contents):
        batch.set(
            ref.collection("messages").document(f"m{i:03d}"),
            {"role": "user" if i % 2 == 0 else "assistant", "content": content, "createdAt": at + timedelta(seconds=i), "status": "ok", "requestId": f"r{i // 2}"},
        )
    batch.commit()


def test_a_conversation_over_three_turns(local, providers, member) -> None:
    from gateway import answers

    first = _ask(local, member, prompt="  What is\n Firebase?  ", saveHistory=True)
    assert first.status_code == 200, first.get_data(as_text=True)
    one = first.get_json()
    conversation_id = one["conversationId"]
    assert _sent(providers) == [{"role": "user", "content": "  What is\n Firebase?  "}]

    # Second turn streamed: the history reaches the provider, and the turn is stored before the done event.
    response = local("generate_text").post(
        "/", json={"modelId": "openai-chat", "prompt": "And Firestore?", "conversationId": conversation_id, "stream": True},
        headers=member.headers, buffered=False,
    )
    assert response.headers["X-Conversation-Id"] == conversation_id
    chunks = iter(response.response)
    body = b""
    for chunk in chunks:
        body += chunk
        if b'"done":true' in body:
            break
    assert len(_stored(member.uid, conversation_id)) == 4  # committed before the client saw the final event
    body += b"".join(chunks)
    response.close()
    done = [json.loads(line[5:]) for line in body.decode().splitlines() if line.startswith("data: {")][-1]
    assert done["done"] is True and done["conversationId"] == conversation_id
    assert _sent(providers) == [
        {"role": "user", "content": "  What is\n Firebase?  "},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "And Firestore?"},
    ]

    third = _ask(local, member, prompt="Thanks", conversationId=conversation_id, systemPrompt="Be brief").get_json()
    assert third["conversationId"] == conversation_id and third["text"] == REPLY
    assert _sent(providers) == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "  What is\n Firebase?  "},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "And Firestore?"},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "Thanks"},
    ]

    stored = _conversation(member.uid, conversation_id).get().to_dict()
    turns = [one, done, third]
    assert stored["title"] == "What is Firebase?"
    assert stored["messageCount"] == 6 and stored["modelId"] == "openai-chat"
    assert stored["totalTokens"] == sum(a["usage"]["totalTokens"] for a in turns)
    assert stored["cost"] == pytest.approx(sum(a["cost"]["total"] for a in turns))

    detail = local("conversations").get(f"/{conversation_id}", headers=member.headers).get_json()
    for model, answer in [(answers.TextAnswer, one), (answers.StreamDone, done), (answers.TextAnswer, third), (answers.ConversationDetail, detail)]:
        model.model_validate(answer)  # every field declared where the client's types come from
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"] * 3
    assert [m["content"] for m in detail["messages"][::2]] == ["  What is\n Firebase?  ", "And Firestore?", "Thanks"]
    assert all(m["status"] == "ok" for m in detail["messages"])
    assert [m["usage"]["totalTokens"] for m in detail["messages"][1::2]] == [a["usage"]["totalTokens"] for a in turns]
    assert detail["messages"][0]["usage"] is None and detail["messages"][1]["cost"] == pytest.approx(one["cost"]["total"])
    assert len({m["requestId"] for m in detail["messages"]}) == 3
    assert detail["nextPageToken"] is None and detail["messageCount"] == 6


def test_messages_page_oldest_first(local, providers, member) -> None:
    _seed(member.uid, "paged", [f"message {i}" for i in range(7)])
    seen: list[str] = []
    token = None
    while True:
        query = {"limit": 3, **({"pageToken": token} if token else {})}
        page = local("conversations").get("/paged", query_string=query, headers=member.headers).get_json()
        seen += [m["content"] for m in page["messages"]]
        token = page["nextPageToken"]
        if token is None:
            break
    assert seen == [f"message {i}" for i in range(7)]


def test_a_cancelled_stream_is_stored_as_cancelled(local, providers, member) -> None:
    from gateway import conversations

    providers["openai"].state.update({"reply": " ".join(["word"] * 200), "chunk_delay": 0.05})
    response = local("generate_text").post(
        "/", json={"modelId": "openai-chat", "prompt": "Tell me a long story", "stream": True, "saveHistory": True},
        headers=member.headers, buffered=False,
    )
    conversation_id = response.headers["X-Conversation-Id"]
    chunks = iter(response.response)
    received = b""
    while received.count(b'"content"') < 3:
        received += next(chunks)
    response.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _conversation(member.uid, conversation_id).get().exists:
        time.sleep(0.05)
    question, answer = _stored(member.uid, conversation_id)
    assert question["content"] == "Tell me a long story" and question["status"] == "ok"
    assert answer["status"] == "cancelled" and answer["usage"] is None and answer["cost"] is None
    assert answer["content"].startswith("word word") and len(answer["content"]) < len(" ".join(["word"] * 200))
    stored = _conversation(member.uid, conversation_id).get().to_dict()
    assert stored["messageCount"] == 2 and stored["totalTokens"] == 0 and stored["cost"] == 0
    assert stored["title"] == "Tell me a long story"

    # The partial answer is history too: the user saw it.
    providers["openai"].state.update({"reply": REPLY, "chunk_delay": 0})
    assert _ask(local, member, prompt="Go on", conversationId=conversation_id).status_code == 200
    assert _sent(providers) == [
        {"role": "user", "content": "Tell me a long story"},
        {"role": "assistant", "content": answer["content"]},
        {"role": "user", "content": "Go on"},
    ]
    assert [m["status"] for m in local("conversations").get(f"/{conversation_id}", headers=member.headers).get_json()["messages"]] == [
        "cancelled" if i == 1 else "ok" for i in range(4)
    ]
    assert conversations.conversation_view(_conversation(member.uid, conversation_id).get())["messageCount"] == 4


def test_a_failed_generation_stores_nothing(local, providers, member) -> None:
    from gateway import conversations

    providers["openai"].state["faults"] = [{"status": 500}] * 3
    assert _ask(local, member, prompt="hi", saveHistory=True).status_code == 502
    assert list(conversations.conversations(member.uid).stream()) == []
    _seed(member.uid, "kept", ["q", "a"])
    providers["openai"].state["faults"] = [{"status": 500}] * 3
    assert _ask(local, member, prompt="hi", conversationId="kept").status_code == 502
    providers["openai"].state["faults"] = [{"break_after": 3}]
    events = _events(_ask(local, member, prompt="hi", conversationId="kept", stream=True))
    assert "error" in events[-1] and not any(e.get("done") for e in events)
    assert len(_stored(member.uid, "kept")) == 2
    assert _conversation(member.uid, "kept").get().get("messageCount") == 2


def test_history_without_saving_and_no_history_by_default(local, providers, member) -> None:
    from gateway import conversations

    plain = _ask(local, member, prompt="hi").get_json()
    assert "conversationId" not in plain
    assert list(conversations.conversations(member.uid).stream()) == []
    _seed(member.uid, "readonly", ["q", "a"])
    answer = _ask(local, member, prompt="side question", conversationId="readonly", saveHistory=False).get_json()
    assert answer["conversationId"] == "readonly"
    assert _sent(providers) == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "side question"}]
    assert len(_stored(member.uid, "readonly")) == 2


def test_request_messages_are_stored_without_system_messages(local, providers, member) -> None:
    messages = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "second"}]
    conversation_id = _ask(local, member, messages=messages, saveHistory=True).get_json()["conversationId"]
    stored = _stored(member.uid, conversation_id)
    assert [(m["role"], m["content"]) for m in stored] == [("user", "first"), ("assistant", "ok"), ("user", "second"), ("assistant", REPLY)]
    assert _conversation(member.uid, conversation_id).get().get("title") == "first"


def test_another_users_conversation_is_not_found(local, providers, member, stranger) -> None:
    _seed(member.uid, "mine", ["secret question", "secret answer"])
    for conversation_id in ("mine", "no-such-conversation"):
        response = _ask(local, stranger, prompt="hi", conversationId=conversation_id)
        assert response.status_code == 404, response.get_data(as_text=True)
        error = response.get_json()["error"]
        assert error["code"] == "NOT_FOUND" and error["message"].startswith("conversationId:") and error["details"]["field"] == "conversationId"
        assert response.headers.get("X-RateLimit-Remaining") is not None  # counted before any history was read
        api = local("conversations")
        assert api.get(f"/{conversation_id}", headers=stranger.headers).status_code == 404
        assert api.patch(f"/{conversation_id}", json={"title": "mine now"}, headers=stranger.headers).status_code == 404
        assert api.delete(f"/{conversation_id}", headers=stranger.headers).status_code == 404
    assert all(not s.state["requests"] for s in providers.values())
    assert local("conversations").get("/", headers=stranger.headers).get_json() == {"conversations": [], "nextPageToken": None}
    assert _conversation(member.uid, "mine").get().get("title") == "mine" and len(_stored(member.uid, "mine")) == 2
    bad = _ask(local, member, prompt="hi", conversationId="../mine")
    assert bad.status_code == 400 and bad.get_json()["error"]["message"].startswith("conversationId:")
    assert local("conversations").get("/", headers={}).status_code == 401


def test_list_is_newest_first_and_paginated(local, providers, member, accounts) -> None:
    from gateway import answers

    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(5):
        _seed(member.uid, f"c{i}", ["q", "a"], at=base + timedelta(minutes=i))
    _seed(member.uid, "tie", ["q", "a"], at=base + timedelta(minutes=2))  # same updatedAt as c2: the id breaks the tie
    api = local("conversations")
    seen: list[str] = []
    token = None
    for _ in range(10):
        page = api.get("/", query_string={"limit": 2, **({"pageToken": token} if token else {})}, headers=member.headers).get_json()
        assert len(page["conversations"]) <= 2
        answers.ConversationList.model_validate(page)
        seen += [c["id"] for c in page["conversations"]]
        token = page["nextPageToken"]
        if token is None:
            break
    assert seen == ["c4", "c3", "tie", "c2", "c1", "c0"]
    first = api.get("/", headers=member.headers).get_json()["conversations"][0]
    assert first == {**first, "id": "c4", "title": "c4", "messageCount": 2, "modelId": "openai-chat", "updatedAt": (base + timedelta(minutes=4)).isoformat()}
    assert api.get("/", query_string={"limit": 101}, headers=member.headers).get_json()["error"]["message"].startswith("limit:")
    assert api.get("/", query_string={"pageToken": "nonsense"}, headers=member.headers).get_json()["error"]["message"].startswith("pageToken:")
    # Every role lists its own (a viewer cannot start one, so has none); admins too see only their own.
    for role in ("viewer", "admin"):
        assert api.get("/", headers=accounts[role].headers).get_json()["conversations"] == []


def test_rename(local, providers, member) -> None:
    from gateway import answers

    _seed(member.uid, "named", ["q", "a"])
    before = _conversation(member.uid, "named").get().get("updatedAt")
    api = local("conversations")
    response = api.patch("/named", json={"title": "  Trip to Lisbon  "}, headers=member.headers)
    assert response.status_code == 200 and response.get_json()["title"] == "Trip to Lisbon"
    answers.Conversation.model_validate(response.get_json())
    assert _conversation(member.uid, "named").get().get("title") == "Trip to Lisbon"
    assert _conversation(member.uid, "named").get().get("updatedAt") == before
    for body, field in [({"title": ""}, "title"), ({"title": "   "}, "title"), ({"title": "x" * 201}, "title"), ({"title": "a\nb"}, "title"), ({}, "title"), ({"title": "ok", "pinned": True}, "pinned")]:
        bad = api.patch("/named", json=body, headers=member.headers)
        assert bad.status_code == 400 and bad.get_json()["error"]["message"].startswith(f"{field}:"), body
    assert api.patch("/", json={"title": "x"}, headers=member.headers).status_code == 405
    assert api.post("/named", json={"title": "x"}, headers=member.headers).status_code == 405
    assert api.get("/named/messages", headers=member.headers).status_code == 404


def test_delete_removes_every_message(local, providers, member, monkeypatch) -> None:
    from gateway import conversations, firebase

    monkeypatch.setattr(conversations, "DELETE_BATCH", 3)  # 8 messages: three batches, the conversation with the last
    commits: list[int] = []
    real_batch = firebase.db().batch

    def counting_batch() -> Any:
        batch = real_batch()
        commit = batch.commit

        def counted() -> Any:
            commits.append(len(batch._write_pbs))
            return commit()

        batch.commit = counted
        return batch

    _seed(member.uid, "gone", [f"m{i}" for i in range(8)])
    _seed(member.uid, "stays", ["q", "a"])
    monkeypatch.setattr(firebase.db(), "batch", counting_batch)
    response = local("conversations").delete("/gone", headers=member.headers)
    assert response.status_code == 204 and response.get_data() == b""
    monkeypatch.undo()
    assert commits == [3, 3, 3]  # 3 messages, 3 messages, 2 messages and the conversation; the sweep after it found nothing
    assert not _conversation(member.uid, "gone").get().exists
    assert list(_conversation(member.uid, "gone").collection("messages").stream()) == []
    assert len(_stored(member.uid, "stays")) == 2
    assert local("conversations").get("/gone", headers=member.headers).status_code == 404
    assert local("conversations").delete("/gone", headers=member.headers).status_code == 404
    assert _ask(local, member, prompt="hi", conversationId="gone").status_code == 404


def test_the_budget_drops_the_oldest_messages(local, providers, member, monkeypatch) -> None:
    from gateway import conversations

    contents = [f"{i}" * 100 for i in range(6)]  # u0 a1 u2 a3 u4 a5, 100 characters each
    _seed(member.uid, "long", contents)
    monkeypatch.setattr(conversations, "HISTORY_MAX_CHARS", 350)  # the newest three fit: a3 u4 a5, and a history starts with a user
    _ask(local, member, prompt="next", conversationId="long")
    assert _sent(providers) == [{"role": "user", "content": contents[4]}, {"role": "assistant", "content": contents[5]}, {"role": "user", "content": "next"}]
    monkeypatch.setattr(conversations, "HISTORY_MAX_CHARS", 10_000)
    monkeypatch.setattr(conversations, "HISTORY_MAX_MESSAGES", 5)  # the newest five (the last turn's included), then the leading answer dropped
    _ask(local, member, prompt="again", conversationId="long")
    assert _sent(providers) == [
        {"role": "user", "content": contents[4]},
        {"role": "assistant", "content": contents[5]},
        {"role": "user", "content": "next"},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "again"},
    ]


def test_bounded_history_rules() -> None:
    from gateway.conversations import bounded

    def msg(role: str, content: str, request: str, status: str = "ok") -> dict[str, Any]:
        return {"role": role, "content": content, "requestId": request, "status": status}

    stored = [
        msg("user", "old question", "r1"), msg("assistant", "old answer", "r1"),
        msg("user", "stopped at once", "r2"), msg("assistant", "", "r2", "cancelled"),
        msg("user", "q3", "r3"), msg("assistant", "partial", "r3", "cancelled"),
        msg("user", "q4", "r4"), msg("assistant", "a4", "r4", "error"),
        msg("user", "q5", "r5"), msg("assistant", "a5", "r5"),
    ]
    assert [(m.role, m.content) for m in bounded(stored, 50, 10_000)] == [
        ("user", "old question"), ("assistant", "old answer"), ("user", "q3"), ("assistant", "partial"), ("user", "q5"), ("assistant", "a5"),
    ]  # a question whose answer is empty or failed is left out with it
    assert [m.content for m in bounded(stored, 50, 13)] == ["q3", "partial", "q5", "a5"]  # whole messages, never cut
    assert [m.content for m in bounded(stored, 50, 12)] == ["q5", "a5"]  # "partial" alone cannot open a history
    assert [m.content for m in bounded(stored, 3, 10_000)] == ["q5", "a5"]
    assert bounded(stored, 0, 10_000) == [] and bounded(stored, 50, 1) == []
    assert bounded([msg("assistant", "x" * 10, "r0")], 50, 100) == []


def test_a_retried_commit_stores_a_turn_once(local, providers, member) -> None:
    from gateway import conversations
    from gateway.providers.base import Message

    _seed(member.uid, "retried", ["q", "a"])
    turn = conversations.Turn(member.uid, "retried", True, False, "req1", "openai-chat", [], [Message("user", "again?")], ids=["x1", "x2"], text=["yes"])
    conversations._commit_turn(turn, "ok", "openai-chat", {"promptTokens": 3, "completionTokens": 1, "totalTokens": 4}, 0.5)
    conversations._commit_turn(turn, "ok", "openai-chat", {"promptTokens": 3, "completionTokens": 1, "totalTokens": 4}, 0.5)
    stored = _conversation(member.uid, "retried").get().to_dict()
    assert stored["messageCount"] == 4 and stored["totalTokens"] == 4 and stored["cost"] == pytest.approx(0.5)
    assert [m["content"] for m in _stored(member.uid, "retried")] == ["q", "a", "again?", "yes"]


def test_a_turn_that_ends_after_its_conversation_was_deleted_stores_nothing(local, providers, member) -> None:
    from gateway import conversations
    from gateway.providers.base import Message

    turn = conversations.Turn(member.uid, "vanished", True, False, "req1", "openai-chat", [], [Message("user", "q")], ids=["y1", "y2"], text=["a"])
    conversations._commit_turn(turn, "ok", "openai-chat", None, None)
    assert not _conversation(member.uid, "vanished").get().exists
    assert list(_conversation(member.uid, "vanished").collection("messages").stream()) == []


def test_title_from_the_first_prompt() -> None:
    from gateway.conversations import TITLE_MAX, title_from

    assert title_from("  Plan   a\ttrip\n to Lisbon ") == "Plan a trip to Lisbon"
    long = title_from("word " * 100)
    assert len(long) <= TITLE_MAX and long.endswith("word…")
    assert title_from("x" * 200) == "x" * (TITLE_MAX - 1) + "…"
    assert title_from("   ") == "New conversation"
