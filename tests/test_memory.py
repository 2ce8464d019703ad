"""One instance's memory at its declared concurrency, with the heaviest requests the gateway accepts.

The worker is started as Cloud Run starts it (functions-framework CLI,
gunicorn, ``THREADS`` = ``deploy.CONCURRENCY``) with ``--target
generate_text``, against the emulators and the fake OpenAI upstream.
``CONCURRENCY`` requests arrive at once, each with the most image bytes a
request may carry (``vision.MAX_REQUEST_IMAGE_BYTES``, in images of
``MAX_IMAGE_BYTES`` from the caller's Cloud Storage: a ``data:`` URL is
bounded by ``MAX_BODY_BYTES``). The resident memory (RSS) of the instance
(gunicorn's arbiter and its worker) is sampled throughout; the worker is killed
the moment it passes the function's memory, as Cloud Run would.

The instance must stay within its memory: at most ``deploy.VISION_SLOTS``
requests hold images at once, the others wait for a slot or get a 503 with
``Retry-After`` in the gateway's error shape. Figures are printed
(``pytest -s``) for docs/measured.md.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Worker

SAMPLE_SECONDS = 0.02


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Peak:
    """Samples the RSS of a process and its descendants; kills it past ``limit_mb`` (Cloud Run's out-of-memory kill)."""

    def __init__(self, worker: Worker, limit_mb: float) -> None:
        import stack

        assert worker.process is not None
        self.worker, self.limit_mb, self.pid = worker, limit_mb, worker.process.pid
        self.pids = [self.pid, *stack.descendants(self.pid)]
        self.baseline_mb = _rss_mb(self.pids)
        self.peak_mb = self.baseline_mb
        self.killed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = _rss_mb(self.pids)
            self.peak_mb = max(self.peak_mb, now)
            if now > self.limit_mb:
                self.killed = True
                self.worker.kill()
                return
            time.sleep(SAMPLE_SECONDS)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _images(uid: str) -> list[str]:
    """The heaviest set one request may send: images of the maximum size up to the request's total, in the caller's uploads."""
    from gateway import storage, vision

    urls, left, number = [], vision.MAX_REQUEST_IMAGE_BYTES, 0
    while left > 0 and len(urls) < vision.MAX_IMAGES:
        size = min(vision.MAX_IMAGE_BYTES, left)
        data = b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8)  # incompressible: what a photo costs
        path = f"uploads/{uid}/memory-{number}.png"
        storage.upload(path, data, "image/png", {"uid": uid})
        urls.append(f"gs://{storage.bucket_name()}/{path}")
        left -= size
        number += 1
    return urls


def _burst(url: str, headers: dict[str, str], body: dict[str, Any], count: int) -> list[httpx.Response | None]:
    """``count`` requests released together; None for one that got no answer (the instance died)."""
    answers: list[httpx.Response | None] = [None] * count
    start = threading.Barrier(count)

    with httpx.Client(limits=httpx.Limits(max_connections=count + 5, max_keepalive_connections=0), timeout=httpx.Timeout(120, connect=10)) as client:

        def send(index: int) -> None:
            start.wait()
            try:
                answers[index] = client.post(url, json=body, headers=headers)
            except httpx.HTTPError:
                pass

        threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
    return answers


def _burst_within_memory(
    stack, target: str, memory_mb: int, headers: dict[str, str], warm: dict[str, Any], body: dict[str, Any], what: str, path: str = ""
) -> list[httpx.Response]:
    """``deploy.CONCURRENCY`` requests of ``body`` at once to ``path`` of one ``target`` instance (warmed with ``warm``), its RSS watched.

    The instance must stay within ``memory_mb`` (``MEMORY_TEST_LIMIT_MB`` raises it, only to measure past it),
    every request must get an answer, and each one not served must be a 503 with ``Retry-After`` in the function's error shape.
    """
    from gateway import deploy

    limit_mb = int(os.environ.get("MEMORY_TEST_LIMIT_MB") or memory_mb)
    worker = Worker(stack, target, env={"RATE_LIMITS_ENABLED": "false"})  # memory, not the per-minute limit, is measured
    worker.env.pop("THREADS", None)  # as deployed: main.py sets it to the concurrency
    with worker:
        warmed = httpx.post(worker.url + path, json=warm, headers=headers, timeout=120)
        assert warmed.status_code == 200, warmed.text[:300]
        with Peak(worker, limit_mb) as peak:
            started = time.monotonic()
            answers = _burst(worker.url + path, headers, body, deploy.CONCURRENCY)
            took = time.monotonic() - started
    statuses = [a.status_code if a is not None else None for a in answers]
    print(
        f"\n{target}{path}, {deploy.CONCURRENCY} requests at once, {what}: RSS {peak.baseline_mb:.0f} MB warm, peak {peak.peak_mb:.0f} MB of {limit_mb} MiB; "
        f"{statuses.count(200)} answered, {statuses.count(503)} told to retry, {statuses.count(None)} lost; {took:.1f} s"
    )
    assert not peak.killed, f"the instance passed its {limit_mb} MiB ({peak.peak_mb:.0f} MB): Cloud Run would have killed it with every request on it"
    assert None not in statuses and set(statuses) <= {200, 503}, [a.text[:300] for a in answers if a is not None and a.status_code not in (200, 503)][:2]
    served = [a for a in answers if a is not None and a.status_code == 200]
    for answer in answers:
        if answer is not None and answer.status_code == 503:
            code = answer.json()["error"]["code"]  # the gateway's shape, or OpenAI's on the openai function
            assert code.upper() == "UNAVAILABLE" and int(answer.headers["Retry-After"]) > 0
    return served


def test_an_instance_at_its_concurrency_stays_within_its_memory(stack, emulators, providers) -> None:
    from gateway import deploy, firebase, vision

    firebase.db().collection("models").document("openai-chat").update({"capabilities": ["chat", "vision"]})
    user = emulators.sign_up("admin")  # the largest default budget: 80 requests at once stay within it
    images = _images(user.uid)
    served = _burst_within_memory(
        stack, "generate_text", int(deploy.MEMORY), {"Authorization": f"Bearer {user.token}"},
        {"modelId": "openai-chat", "prompt": "hi"},
        {"modelId": "openai-chat", "prompt": "What is in these pictures?", "images": images},
        f"{len(images)} images ({vision.MAX_REQUEST_IMAGE_BYTES >> 20} MiB) each, VISION_SLOTS={deploy.VISION_SLOTS}",
    )
    assert len(served) >= deploy.VISION_SLOTS


def test_a_request_with_images_waits_for_a_slot_then_gets_503(local, providers, accounts, monkeypatch) -> None:
    """Every slot taken: a request with images is told to retry (gateway error shape); a slot is given back when an answer is sent."""
    import base64

    from gateway import deploy, firebase, vision
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"capabilities": ["chat", "vision"]})
    registry().invalidate()
    monkeypatch.setattr(vision, "WAIT_SECONDS", 0.2)
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
    body = {"modelId": "openai-chat", "prompt": "What is this?", "images": [image]}
    taken = [vision._slots.acquire(timeout=5) for _ in range(deploy.VISION_SLOTS)]
    try:
        assert all(taken)
        busy = local("generate_text").post("/", json=body, headers=accounts["user"].headers)
        assert busy.status_code == 503, busy.get_data(as_text=True)
        assert busy.get_json()["error"]["code"] == "UNAVAILABLE" and busy.headers["Retry-After"] == str(vision.RETRY_AFTER_SECONDS)
        plain = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=accounts["user"].headers)
        assert plain.status_code == 200  # requests without images never wait
    finally:
        for _ in taken:
            vision._slots.release()
    for _ in range(3):  # more requests than one slot: each gives its slot back when its answer is sent
        assert local("generate_text").post("/", json=body, headers=accounts["user"].headers).status_code == 200
    assert all(vision._slots.acquire(timeout=0) for _ in range(deploy.VISION_SLOTS))  # every slot free again
    for _ in range(deploy.VISION_SLOTS):
        vision._slots.release()


def test_large_answers_at_concurrency_stay_within_memory(stack, emulators, providers) -> None:
    """``CONCURRENCY`` requests whose providers answer 16 MiB each: the instance's answer budget makes the others wait or retry."""
    from gateway import deploy, firebase

    answer_mb = 16
    firebase.db().collection("models").document("openai-chat").update({"config.timeoutSeconds": 60})
    providers["openai"].state["reply"] = "x" * (answer_mb << 20)  # one word: one token, 16 MiB of text
    user = emulators.sign_up("admin")
    ask = {"modelId": "openai-chat", "prompt": "Say a lot."}
    served = _burst_within_memory(
        stack, "generate_text", int(deploy.MEMORY), {"Authorization": f"Bearer {user.token}"}, ask, ask,
        f"answered {answer_mb} MiB each, answer budget {deploy.answer_budget_mb('generate_text')} MiB",
    )
    assert len(served) >= deploy.answer_budget_mb("generate_text") // answer_mb
    assert all(len(answer.json()["text"]) == answer_mb << 20 for answer in served)


def test_the_answer_budget_pauses_readers_but_never_the_oldest() -> None:
    """Past the budget a read waits for a holder to give back, except the oldest read, which always goes on (no two wait for each other)."""
    from gateway import answers_held

    budget = answers_held.Budget(10)
    with budget.reader() as first, budget.reader() as second:
        budget.take(8, first)
        budget.take(2, second)
        budget.take(30, first)  # the oldest read: past the budget, it goes on
        try:
            budget.take(1, second, timeout=0.1)
        except answers_held.Exhausted:
            pass
        else:
            raise AssertionError("a younger read went past the budget")
    budget.give(38)
    assert budget.held == 2
    released = threading.Timer(0.2, budget.give, args=(2,))
    released.start()
    with budget.reader() as third, budget.reader() as fourth:
        budget.take(1, third)
        budget.take(9, fourth, timeout=10)  # 3 + 9 past the budget: waited for the give-back of a request that ended
    scope = answers_held.Scope(budget)
    budget.give(10)
    scope.take(8)
    scope.close()
    scope.close()
    assert budget.held == 0


def _noise_image_model(providers) -> None:
    """``openai-image``, whose fake provider answers photo-sized images (random pixels: PNG cannot shrink them)."""
    from gateway import firebase

    firebase.db().collection("models").document("openai-image").set(
        {"type": "image", "enabled": True, "name": "gpt-image-1", "provider": "openai", "config": {"timeoutSeconds": 120}, "pricing": {"perImage": 0.001}}
    )
    providers["openai"].state["noise"] = True


def test_an_image_instance_at_its_concurrency_stays_within_its_memory(stack, emulators, providers) -> None:
    """``generate_image``: ``CONCURRENCY`` requests for 4 photo-sized 1024×1024 images each (~16 MiB of base64 an answer)."""
    from gateway import deploy

    _noise_image_model(providers)
    user = emulators.sign_up("admin")
    body = {"modelId": "openai-image", "prompt": "a red fox in the snow", "width": 1024, "height": 1024, "numImages": 4}
    served = _burst_within_memory(
        stack, "generate_image", int(deploy.IMAGE_MEMORY), {"Authorization": f"Bearer {user.token}"}, {**body, "numImages": 1}, body,
        f"4 noise images of 1024x1024 each, answer budget {deploy.answer_budget_mb('generate_image')} MiB",
    )
    assert served and all(len(answer.json()["images"]) == 4 for answer in served)


@pytest.mark.parametrize("response_format", ["url", "b64_json"])
def test_openai_images_at_its_concurrency_stay_within_its_memory(stack, emulators, providers, response_format: str) -> None:
    """``openai`` (512 MiB) serving ``/v1/images/generations``: the same burst as ``generate_image``'s, 4 images of 1024×1024 a request.

    ``b64_json`` answers carry the images back as base64 (~16 MiB an answer, besides the provider's); ``url`` answers only links.
    """
    from gateway import deploy

    _noise_image_model(providers)
    user = emulators.sign_up("admin")
    body = {"model": "openai-image", "prompt": "a red fox in the snow", "size": "1024x1024", "n": 4, "response_format": response_format}
    served = _burst_within_memory(
        stack, "openai", int(deploy.MEMORY), {"Authorization": f"Bearer {user.token}"}, {**body, "n": 1}, body,
        f"4 noise images of 1024x1024 each as {response_format}, answer budget {deploy.answer_budget_mb('openai')} MiB",
        path="/v1/images/generations",
    )
    assert served and all(len(answer.json()["data"]) == 4 and response_format in answer.json()["data"][0] for answer in served)


def test_what_a_request_holds_is_given_back_when_its_error_handling_fails(local, providers, accounts, monkeypatch) -> None:
    """No response to close: the vision slot and answer bytes go back at once, not with the process."""
    import base64

    from gateway import answers_held, deploy, firebase, http, vision
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"capabilities": ["chat", "vision"]})
    registry().invalidate()
    providers["openai"].state["faults"] = [{"status": 400}] * 3

    def broken(ctx, err) -> None:
        raise RuntimeError("the ledger's failure path broke")

    monkeypatch.setattr(http, "_settle", broken)
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
    body = {"modelId": "openai-chat", "prompt": "What is this?", "images": [image]}
    for _ in range(deploy.VISION_SLOTS + 1):
        try:
            local("generate_text").post("/", json=body, headers=accounts["user"].headers)
        except RuntimeError:
            pass
    assert all(vision._slots.acquire(timeout=0) for _ in range(deploy.VISION_SLOTS))  # every slot free again
    for _ in range(deploy.VISION_SLOTS):
        vision._slots.release()
    assert answers_held.held() == 0


def test_the_oldest_read_never_waits_on_its_own_requests_earlier_answers() -> None:
    """A request reading several answers in turn (images, fallbacks): its earlier bytes count as its own, not as others'."""
    from gateway import answers_held

    budget = answers_held.Budget(10)
    request = answers_held.Scope(budget)
    with budget.reader() as first:
        request.take(8, first)
    with budget.reader() as other:
        budget.take(2, other)  # another request, within the budget
        with budget.reader() as second:  # this request's next answer: younger than ``other``'s read, so it waits ...
            try:
                request.take(8, second)
            except answers_held.Exhausted:
                pass
            else:
                raise AssertionError("a younger read went past the budget")
    with budget.reader() as third:  # ... but as the oldest read it goes on past the budget by its own request's bytes
        request.take(8, third)
        request.take(8, third)
    assert budget.held == 2 + 8 + 16
    request.close()
    assert budget.held == 2
