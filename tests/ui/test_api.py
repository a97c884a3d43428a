"""The JSON HTTP API through real servers on 127.0.0.1, spoken to with httpx.

A read-only `policyqa serve` runs in a subprocess over the seed index (as a user starts it);
the write tests run the same app with --allow-writes from a thread, over a copy of that index.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import time

import pytest

from policyqa.config import DEFAULT_MODEL
from tests.support.cli import BIN
from tests.support.seeds import GOLD
from tests.support.serving import free_port, served

httpx = pytest.importorskip("httpx")

CARD_QUESTION = "哪些城市设立了科技特派员工作站"


def _one_line_error(r, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"] and "\n" not in body["error"] and "Traceback" not in r.text
    return body["error"]


@pytest.fixture(scope="module")
def server(seed_settings):
    """`policyqa serve` (read-only, the default) over the seed index; yields (client, settings)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN), "serve", "--index", str(seed_settings.index_dir), "--corpus", str(seed_settings.corpus_dir),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ},
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None:
                pytest.fail(f"policyqa serve exited: {proc.stdout.read()}")
            try:
                if client.get("/api/status").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("policyqa serve did not answer within 240 s")
            time.sleep(0.5)
        yield client, seed_settings
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def writable(seed_settings, tmp_path_factory):
    """The same app with --allow-writes, over its own copy of the seed corpus and index."""
    from policyqa.ui.app import create_app

    root = tmp_path_factory.mktemp("api-writes")
    shutil.copytree(seed_settings.corpus_dir, root / "documents")
    shutil.copytree(seed_settings.index_dir, root / "index")
    (root / "outside.txt").write_text("荆州市科技局外部文件，不在文档文件夹内。", encoding="utf-8")
    settings = seed_settings.with_(corpus_dir=root / "documents", index_dir=root / "index")
    with served(create_app(settings, allow_writes=True)) as url, httpx.Client(base_url=url, timeout=300) as client:
        yield client, settings, root


def test_ask_equals_cli_json_for_the_first_ten_gold_questions(server, tmp_path):
    client, settings = server
    questions = [json.loads(line)["question"] for line in GOLD.read_text(encoding="utf-8").splitlines()[:10]]
    qfile = tmp_path / "q.txt"
    qfile.write_text("\n".join(questions) + "\n", encoding="utf-8")
    r = subprocess.run([str(BIN), "ask", "--questions", str(qfile), "--index", str(settings.index_dir), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cli = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(cli) == 10
    for q, expected in zip(questions, cli):
        got = client.get("/api/ask", params={"question": q})
        assert got.status_code == 200, got.text
        assert got.json() == expected, q
    posted = client.post("/api/ask", json={"question": questions[0], "top_k": 5, "mode": "hybrid"})
    assert posted.json() == cli[0]


def test_filters_and_the_grouped_answer(server):
    client, _ = server
    body = client.get("/api/ask", params={"question": "高新技术企业有多少家", "city": "岳阳", "top_k": 3}).json()
    assert body["results"] and {h["city"] for h in body["results"]} == {"岳阳市"}
    body = client.post("/api/ask", json={"question": CARD_QUESTION}).json()
    assert body["groups"][0]["city"] == "荆州市" and body["found"] is True


def test_bad_requests_get_one_line_json_errors(server):
    client, _ = server
    assert "问题为空" in _one_line_error(client.get("/api/ask", params={"question": "  "}), 400)
    cli = subprocess.run([str(BIN), "ask", "科技", "--mode", "fuzzy", "--index", "/nonexistent"], capture_output=True, text=True)
    err = _one_line_error(client.get("/api/ask", params={"question": "科技", "mode": "fuzzy"}), 400)
    assert err in cli.stderr  # the CLI's own words
    assert "question" in _one_line_error(client.get("/api/ask"), 422)
    assert "top_k" in _one_line_error(client.get("/api/ask", params={"question": "科技", "top_k": 0}), 422)
    assert "year" in _one_line_error(client.get("/api/ask", params={"question": "科技", "year": "去年"}), 422)
    _one_line_error(client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert "topk" in _one_line_error(client.post("/api/ask", json={"question": "科技", "topk": 3}), 422)  # a typo is not ignored
    assert "doc_id" in _one_line_error(client.get("/api/documents/no-such-doc"), 404)
    _one_line_error(client.get("/api/no-such-route"), 404)


def test_a_long_question_is_truncated_with_a_note(server):
    client, _ = server
    body = client.get("/api/ask", params={"question": "荆州市科技特派员" * 200}).json()
    assert len(body["question"]) == 1000 and "问题超过1000字，已截断" in body["notes"]


def test_documents_hold_the_text_offsets_point_into(server):
    client, settings = server
    docs = client.get("/api/documents").json()["documents"]
    assert sorted(d["source"] for d in docs) == sorted(p.name for p in settings.corpus_dir.glob("*.txt"))
    hit = client.get("/api/ask", params={"question": "荆州2022年新增了多少家高新技术企业"}).json()["results"][0]
    doc = client.get(f"/api/documents/{hit['doc_id']}").json()
    assert doc["source"] == hit["source"] and doc["city"] == hit["city"] and doc["title"] == hit["title"]
    assert doc["text"][hit["start"]:hit["end"]] == hit["text"]
    assert hit["answer_span"] in doc["text"][hit["answer_start"]:hit["answer_end"]]


def test_status_is_what_policyqa_status_counts(server):
    client, settings = server
    st = client.get("/api/status").json()
    assert st["built"] and st["documents"] == 5 and st["model"] == DEFAULT_MODEL and st["pending"] == []
    cli = subprocess.run([str(BIN), "status", "--index", str(settings.index_dir), "--corpus", str(settings.corpus_dir)],
                         capture_output=True, text=True, timeout=120).stdout
    assert f"documents:  {st['documents']}" in cli and f"passages:   {st['passages']}" in cli and st["generation"] in cli


def test_writes_are_refused_without_allow_writes(server, tmp_path):
    client, settings = server
    before = sorted(p.name for p in settings.corpus_dir.iterdir())
    new = tmp_path / "测试县-2025年科技工作要点.txt"
    new.write_text("测试县2025年科技工作要点\n一、建设科技特派员工作站十个。\n", encoding="utf-8")
    with new.open("rb") as f:
        err = _one_line_error(client.post("/api/documents", files={"files": (new.name, f, "text/plain")}), 403)
    assert "--allow-writes" in err
    assert "--allow-writes" in _one_line_error(client.delete(f"/api/documents/{before[0]}"), 403)
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == before
    assert len(client.get("/api/documents").json()["documents"]) == 5


def test_csv_holds_the_rows_of_the_answer(server):
    client, _ = server
    params = {"question": "荆州2022年新增了多少家高新技术企业", "top_k": 4}
    body = client.get("/api/ask", params=params).json()
    r = client.get("/api/ask.csv", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(int(x["rank"]), x["source"], int(x["start"]), int(x["end"]), x["answer_span"]) for x in rows] == [
        (h["rank"], h["source"], h["start"], h["end"], h["answer_span"] or "") for h in body["results"]]
    assert {"score", "city", "title", "section", "answer", "answer_start", "answer_end"} <= set(rows[0])

    body = client.get("/api/ask", params={"question": "哪些城市选派了科技特派员"}).json()
    rows = list(csv.DictReader(io.StringIO(client.get("/api/ask.csv", params={"question": "哪些城市选派了科技特派员"})
                                           .content.decode("utf-8-sig"))))
    assert len(body["groups"]) > 1
    assert [x["place"] for x in rows] == [g["city"] for g in body["groups"]]  # one row per place, in order
    for row, g in zip(rows, body["groups"]):
        assert [int(n) for n in row["ranks"].split()] == g["results"]
        assert row["supporting"].count("\n") == len(g["results"]) - 1


def test_upload_and_delete_with_allow_writes(writable, tmp_path):
    client, settings, _ = writable
    new = tmp_path / "测试县-2025年量子通信实验室建设方案.txt"
    new.write_text("测试县2025年量子通信实验室建设方案\n一、总体目标\n测试县将于2025年建成量子通信实验室。\n", encoding="utf-8")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ\x90\x00")
    with new.open("rb") as f, exe.open("rb") as g:
        r = client.post("/api/documents", files=[("files", (new.name, f, "text/plain")), ("files", (exe.name, g))])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["added"] == [new.name] and body["documents"] == 6
    assert body["rejected"][0]["name"] == "tool.exe" and "不支持的文件类型" in body["rejected"][0]["reason"]
    assert (settings.corpus_dir / new.name).is_file() and not (settings.corpus_dir / "tool.exe").exists()
    hit = client.get("/api/ask", params={"question": "测试县的量子通信实验室什么时候建成"}).json()["results"][0]
    assert hit["source"] == new.name

    with exe.open("rb") as g:
        assert "不支持的文件类型" in _one_line_error(client.post("/api/documents", files={"files": (exe.name, g)}), 400)

    r = client.delete(f"/api/documents/{new.name}")
    assert r.status_code == 200, r.text
    assert r.json()["documents"] == 5 and not (settings.corpus_dir / new.name).exists()
    assert list((settings.corpus_dir / ".removed").rglob(new.name))  # moved aside, not deleted
    sources = {d["source"] for d in client.get("/api/documents").json()["documents"]}
    assert new.name not in sources


def test_an_uploaded_name_cannot_leave_the_documents_folder(writable):
    client, settings, root = writable
    text = "逃逸县2025年科技工作要点\n一、建设量子通信实验室。\n".encode()
    r = client.post("/api/documents", files={"files": ("../../逃逸县-要点.txt", text, "text/plain")})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == ["逃逸县-要点.txt"] and (settings.corpus_dir / "逃逸县-要点.txt").is_file()
    assert not list(root.parent.glob("逃逸县*")) and not list(root.glob("逃逸县*"))
    assert client.delete("/api/documents/逃逸县-要点.txt").status_code == 200


@pytest.mark.parametrize("source", ["..%2Foutside.txt", "%2E%2E%2Foutside.txt", "..%2F..%2F..%2Fetc%2Fpasswd",
                                    "%2Fetc%2Fpasswd", "..%5Coutside.txt", ".removed"])
def test_path_traversal_in_delete_is_refused(writable, source):
    client, settings, root = writable
    before = sorted(p.name for p in settings.corpus_dir.iterdir())
    r = client.delete(f"/api/documents/{source}")
    assert 400 <= r.status_code < 500 and "error" in r.json()
    assert (root / "outside.txt").is_file()
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == before
