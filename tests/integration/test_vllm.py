"""The answer path against vLLM itself (the production generator), on the CPU: `scripts/vllm-cpu`
serves the packaged Qwen2.5 0.5B and a stack of its own uses it. Marker `vllm`: deselected from the
default run (setting vLLM up takes minutes and the registry); `bash scripts/test-vllm.sh` sets it up,
then runs `pytest -m vllm`; `.ci/run` runs it after the suite."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from client.http import sse_events
from generation.client import GeneratorClient
from tests.integration.conftest import Stack, free_port, running_stack, wait_for, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.vllm]
ROOT = Path(__file__).resolve().parents[2]
VLLM_REDIS_DB = 11
FREEDONIA = (
    "# Freedonia guide\n\n## Geography\n\nThe capital of Freedonia is Fredville. "
    "Fredville lies on three rivers: the Ost, the Lind and the Varra.\n"
)
LIGHTHOUSE = "Port Aubrey notes.\n\nThe lighthouse keeper of Port Aubrey is Ingrid Solberg.\n"


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    # the converted model is kept in the repo's (git-ignored) data dir: converting takes a minute
    data = os.environ.get("ASKDOCS_VLLM_DATA", str(ROOT / "data"))
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "vllm-cpu"), "--serve-only", "--port", str(port)]
            + ["--data", data],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/v1"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"vllm-cpu exited {proc.returncode}:\n{log.read_text()[-5000:]}")
        try:
            return httpx.get(url + "/models", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 1500, "vLLM to set up and serve", interval=2)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def vstack(vllm_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "ASKDOCS_GENERATOR_URL": vllm_url,
        "ASKDOCS_START_GENERATOR": "false",
        # vLLM serves the packaged 0.5B here: its profile, as an operator serving it would choose
        # (a model served elsewhere gets the plain profile unless told; tests/service covers both)
        "ASKDOCS_GENERATOR_PROFILE": "qwen2.5-coder-0.5b",
    }
    with running_stack(tmp_path_factory.mktemp("vllm-stack"), VLLM_REDIS_DB, env) as running:
        yield running


@pytest.fixture(scope="module")
def vapi(vstack: Stack) -> Iterator[httpx.Client]:
    with vstack.client(vstack.admin_key) as client:
        resp = client.post(
            "/documents",
            data={"collection": "v"},
            files=[
                ("files", ("freedonia.md", FREEDONIA.encode())),
                ("files", ("aubrey.txt", LIGHTHOUSE.encode())),
            ],
        )
        assert resp.status_code == 202, resp.text
        done = wait_job(client, resp.json()["id"])
        assert {d["status"] for d in done["documents"]} == {"ready"}
        yield client


def ask(
    api: httpx.Client, question: str, conversation_id: str | None = None, streamed: bool = True
) -> dict:
    body = {"collection": "v", "question": question, "conversation_id": conversation_id}
    with api.stream("POST", "/ask", json=body) as resp:
        assert resp.status_code == 200, resp.read()
        events = list(sse_events(resp.iter_lines()))
    kinds = [e for e, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done", kinds
    if streamed:
        assert kinds.count("token") >= 2  # streamed by vLLM in pieces
    return {**events[0][1], **events[-1][1]}


def test_client_reads_vllm_tokenizer_and_context(vllm_url: str) -> None:
    client = GeneratorClient(vllm_url)
    assert client.model == "askdocs-default"
    assert client.context_length() == 2048
    n = client.count_tokens("The capital of Freedonia is Fredville.")
    assert n is not None and 5 <= n <= 15  # Qwen's tokenizer, not a characters/3 estimate (13)


def test_vllm_answer_is_cited_and_checked(vapi: httpx.Client) -> None:
    done = ask(vapi, "Who is the lighthouse keeper of Port Aubrey?")
    assert "Ingrid" in done["answer"] and done["abstained"] is False
    assert [c["document_name"] for c in done["citations"]] == ["aubrey.txt"]
    cited = done["citations"][0]
    a, b = cited["span"]
    assert "Ingrid Solberg" in cited["passage"][a:b] and cited["supported"] is True


def test_vllm_abstains_off_topic(vapi: httpx.Client) -> None:
    question = "What was the quarterly dividend of the semiconductor company in 2023?"
    done = ask(vapi, question, streamed=False)  # below the gate: vLLM is not asked
    assert done["abstained"] is True and done["citations"] == []
    assert done["passages"]  # the closest passages are still listed


def test_vllm_follow_up_and_openai_endpoint(vstack: Stack, vapi: httpx.Client) -> None:
    first = ask(vapi, "What is the capital of Freedonia?")
    assert "Fredville" in first["answer"]
    follow = ask(vapi, "Which rivers does it lie on?", first["conversation_id"])
    standalone = follow["standalone_question"].lower()
    assert "fredville" in standalone or "freedonia" in standalone, standalone
    assert any(r in follow["answer"] for r in ("Ost", "Lind", "Varra")), follow["answer"]
    client = openai.OpenAI(base_url=f"{vstack.api_url}/v1", api_key=vstack.admin_key, timeout=300)
    chunks = list(
        client.chat.completions.create(
            model="v",
            stream=True,
            messages=[{"role": "user", "content": "What is the capital of Freedonia?"}],
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Fredville" in text
    assert (chunks[-1].model_extra or {})["citations"][0]["document_name"] == "freedonia.md"
