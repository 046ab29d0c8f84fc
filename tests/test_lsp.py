"""`kefu lsp`: the language server, driven over its protocol (JSON-RPC on stdio) as an editor would."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from queue import Empty, Queue

import pytest

pytest.importorskip("pygls")

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60   # seconds to wait for one message: a bound so a broken server fails the test, not hangs it

POLICY = """shop "s" on pinduoduo
group presale { agents amei, bob }
assign by idle_rat
route { page refund_detail -> presale; default -> presale }
"""


class Client:
    """A minimal LSP client: framed JSON-RPC over the server's stdin and stdout."""

    def __init__(self, cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "lsp"], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: Queue = Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            self.messages.put(json.loads(out.read(int(headers["content-length"]))))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)["result"]

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def wait(self, wanted) -> dict:
        while True:
            try:
                message = self.messages.get(timeout=TIMEOUT)
            except Empty:
                raise AssertionError("the server sent nothing in time: " + self.proc.stderr.read1().decode())
            if wanted(message):
                return message

    def close(self) -> int:
        self.request("shutdown", {})
        self.notify("exit", {})
        return self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def client(tmp_path):
    c = Client(tmp_path)
    c.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})
    c.notify("initialized", {})
    yield c
    if c.proc.poll() is None:
        c.proc.kill()


def _diagnostics(client: Client, uri: str) -> list[dict]:
    return client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                       and m["params"]["uri"] == uri)["params"]["diagnostics"]


def test_diagnostics_completion_and_hover_over_the_protocol(client, tmp_path):
    uri = (tmp_path / "shop.kefu").as_uri()   # not on disk: the server checks the editor's text
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "kefu", "version": 1,
                                                            "text": POLICY}})
    (diag,) = _diagnostics(client, uri)
    assert (diag["code"], diag["severity"], diag["source"]) == ("E103", 1, "kefu")
    assert diag["range"] == {"start": {"line": 2, "character": 10}, "end": {"line": 2, "character": 18}}
    assert diag["message"].startswith("unknown assignment strategy 'idle_rat'") and "did you mean 'idle_rate'?" in diag["message"]

    fixed = POLICY.replace("idle_rat", "idle_rate")
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": fixed}]})
    assert _diagnostics(client, uri) == []

    # after `->` an agent or group; after `page` a page of the platform; after `assign by` a strategy
    targets = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                         "position": {"line": 3, "character": len("route { page refund_detail -> ")}})
    assert {i["label"] for i in targets["items"]} == {"amei", "bob", "presale"}
    pages = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                       "position": {"line": 3, "character": len("route { page ")}})
    strategies = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                            "position": {"line": 2, "character": len("assign by ")}})
    assert {i["label"] for i in strategies["items"]} == {"idle_rate", "least_loaded", "round_robin", "longest_idle", "random"}
    assert {i["label"] for i in pages["items"]} >= {"refund_detail", "shop_home", "logistics_complaint"}

    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 12}})
    assert hover["contents"]["value"] == "**idle_rate** — assignment strategy: highest (max − current) / max first (Douyin 飞鸽)"
    page = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 16}})
    assert page["contents"]["value"] == "**refund_detail** — page 退款详情页 of pinduoduo"
    assert client.close() == 0


def test_positions_are_in_utf16_units_after_chinese_text(client, tmp_path):
    uri = (tmp_path / "cn.kefu").as_uri()
    # 😀 and 𠀀 lie outside the basic plane: one Python character each, two UTF-16 units
    text = 'shop "s" on douyin\nreply keyword "发票😀" -> "好的𠀀" ; assign by idle_rat\n'
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "kefu", "version": 1, "text": text}})
    (diag,) = _diagnostics(client, uri)
    start = text.split("\n")[1].index("idle_rat") + 2
    assert diag["range"]["start"] == {"line": 1, "character": start}
    assert client.close() == 0


def test_an_included_snippet_is_read_from_disk(client, tmp_path):
    (tmp_path / "common.kefu").write_text('reply closing "谢谢" -> "不客气"\n', encoding="utf-8")
    uri = (tmp_path / "shop.kefu").as_uri()
    text = 'shop "s" on douyin\ninclude "common.kefu"\ninclude "missing.kefu"\n'
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "kefu", "version": 1, "text": text}})
    (diag,) = _diagnostics(client, uri)
    assert diag["code"] == "E020" and diag["range"]["start"]["line"] == 2
    assert client.close() == 0


# ---- in-process: one Loader for every check, its platform files parsed once ---------------------
def _initialized(platform_dirs: list[Path]):
    from lsprotocol import types

    from engine.lsp import make_server
    server = make_server(platform_dirs)
    steps = server.protocol.lsp_initialize(types.InitializeParams(capabilities=types.ClientCapabilities(),
                                                                  process_id=None, root_uri=None))
    for _ in steps:   # the generator registers the workspace as it runs
        pass
    return server


SHOP = 'shop "s" on douyin\nagent amy { max_sessions 40 }\n'


@pytest.fixture
def platform_copy(tmp_path, monkeypatch):
    """A copy of the Douyin platform file in a --platform-dir, and a count of the times it is parsed."""
    import engine.loader

    directory = tmp_path / "platforms"
    directory.mkdir()
    platform = directory / "douyin.kefu"
    platform.write_text((ROOT / "rulesets" / "platforms" / "douyin.kefu").read_text(encoding="utf-8"), encoding="utf-8")
    parsed: list[str] = []
    real = engine.loader.parse_document

    def counted(src, *args, **kwargs):
        parsed.append(src.path)
        return real(src, *args, **kwargs)

    monkeypatch.setattr(engine.loader, "parse_document", counted)
    return directory, platform, parsed


def test_consecutive_checks_parse_the_platform_file_once(platform_copy, tmp_path):
    from engine.lsp import check_text

    directory, platform, parsed = platform_copy
    server = _initialized([directory])
    uri = (tmp_path / "shop.kefu").as_uri()
    assert check_text(server, uri, SHOP) == []
    assert check_text(server, uri, SHOP + "assign by idle_rate\n") == []   # the next keystroke
    assert check_text(server, (tmp_path / "other.kefu").as_uri(), SHOP) == []   # another file on the same platform
    assert parsed.count(platform.as_posix()) == 1
    assert parsed.count((tmp_path / "shop.kefu").as_posix()) == 0   # the edited file is parsed as shown: its name
    assert parsed.count("shop.kefu") == 2 and parsed.count("other.kefu") == 1


def test_a_platform_file_changed_on_disk_is_read_again(platform_copy, tmp_path):
    from engine.lsp import check_text

    directory, platform, parsed = platform_copy
    server = _initialized([directory])
    uri = (tmp_path / "shop.kefu").as_uri()
    assert check_text(server, uri, SHOP) == []
    # the platform now caps a shop's reception at 30: amy's 40 is over it
    platform.write_text(platform.read_text(encoding="utf-8").replace("max_sessions 1..50", "max_sessions 1..30"),
                        encoding="utf-8")
    (diag,) = check_text(server, uri, SHOP)
    assert "30" in diag.message and diag.range.start.line == 1
    assert parsed.count(platform.as_posix()) == 2
    assert check_text(server, uri, SHOP) == [diag] and parsed.count(platform.as_posix()) == 2   # cached again


def test_a_platform_file_added_later_is_found(platform_copy, tmp_path):
    from engine.lsp import check_text

    directory, platform, parsed = platform_copy
    server = _initialized([directory])
    uri = (tmp_path / "shop.kefu").as_uri()
    (diag,) = check_text(server, uri, SHOP.replace("douyin", "feige"))
    assert diag.code == "E040" and diag.range.start.line == 0
    (directory / "feige.kefu").write_text(platform.read_text(encoding="utf-8").replace("platform douyin", "platform feige"),
                                          encoding="utf-8")
    assert check_text(server, uri, SHOP.replace("douyin", "feige")) == []


def test_saving_a_platform_file_rechecks_the_open_files(platform_copy, tmp_path):
    from engine.lsp import saved_platform

    directory, platform, parsed = platform_copy
    server = _initialized([directory])
    published: list[tuple[str, int]] = []
    server.text_document_publish_diagnostics = lambda params: published.append((params.uri, len(params.diagnostics)))
    shop_uri = (tmp_path / "shop.kefu").as_uri()
    server.workspace.put_text_document(_document(shop_uri, SHOP))
    server.workspace.put_text_document(_document(platform.as_uri(), platform.read_text(encoding="utf-8")))
    saved_platform(server, shop_uri)   # not a platform file: nothing is forgotten or checked
    assert published == [] and parsed == []
    saved_platform(server, platform.as_uri())
    assert published == [(shop_uri, 0)] and parsed.count(platform.as_posix()) == 1
    server.loader.platform(_ref("douyin"))
    assert parsed.count(platform.as_posix()) == 1   # cached since
    saved_platform(server, platform.as_uri())
    assert parsed.count(platform.as_posix()) == 2   # forgotten at the save, even with the same time and size


def _document(uri: str, text: str):
    from lsprotocol import types
    return types.TextDocumentItem(uri=uri, language_id="kefu", version=1, text=text)


def _ref(name: str):
    from engine import ir
    return ir.Ref(name=name)
