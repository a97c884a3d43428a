"""The API's documented shapes (/docs, /openapi.json) are the shapes it returns; no server or model needed."""

from __future__ import annotations

import pytest

from policyqa.config import Settings
from policyqa.qa.types import Answer, Group, Hit, Link, Standing, YearGroup
from policyqa.ui.api import AnswerDoc, GroupDoc, HitDoc, LinkDoc, YearDoc, create_api


def test_documented_fields_are_the_fields_of_a_real_answer():
    hit = Hit(rank=1, score=0.5, pid=0, doc_id="d", source="a.txt", title="t", city=None, year=None, doc_type="其他",
              section="t", start=0, end=2, text="科技")
    body = Answer(question="哪些城市", hits=[hit], mode="hybrid", groups=[Group("荆州市", [1])]).to_json()
    old = Standing("已废止", "2024-01-01", "2019-04-01", None, replaced_by=Link("n", "新办法", "荆政发〔2023〕12号"))
    dated = Hit(**{**hit.__dict__, "year": 2019, "standing": old})
    timeline = Answer(question="历年变化", hits=[dated], mode="hybrid", timeline=[YearGroup(2019, [1])]).to_json()
    assert set(AnswerDoc.model_fields) == set(body) | set(timeline)  # groups or timeline, as the question asks
    assert set(HitDoc.model_fields) == set(body["results"][0]) == set(timeline["results"][0])
    assert set(GroupDoc.model_fields) == set(body["groups"][0])
    assert set(YearDoc.model_fields) == set(timeline["timeline"][0])
    assert {f.alias or name for name, f in LinkDoc.model_fields.items()} == set(timeline["results"][0]["replaced_by"])
    AnswerDoc.model_validate(body)  # types too
    AnswerDoc.model_validate(timeline)


def test_every_documented_error_is_the_one_line_shape():
    spec = create_api(Settings(), searcher=None).openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")):
                    ref = resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorDoc"), (method, path, code, ref)
            assert "422" in op["responses"], (method, path)


@pytest.mark.slow  # no model, but the subprocess imports Gradio: ~10 s on two shared cores
def test_serve_on_a_busy_port_fails_at_once_in_one_line(tmp_path):
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        r = subprocess.run([str(Path(sys.executable).parent / "policyqa"), "serve", "--port", str(port),
                            "--index", str(tmp_path / "none")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"127.0.0.1:{port}" in r.stderr and "--port" in r.stderr
