"""`kanalwerk serve` and `run --serve`: the output folder over real HTTP on 127.0.0.1.

The server runs in process on port 0 against a small output folder; the commands run
as processes where the process itself is under test (printed URL, signals, exit code).
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kanalwerk.errors import KanalwerkError
from kanalwerk.publish.serve import Address, listen, serving
from tests.cli import command, environment, run_cli
from tests.fake_libretranslate import FakeLibreTranslate
from tests.servers import LocalServer, Resource
from tests.test_article_mode import POSTS, rss
from tests.test_daemon import libretranslate_config, wait_for

ATOM_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    + b"<entry><title>Eintrag</title></entry>" * 40
    + b"</feed>\n"
)

FILES = {
    "index.html": b"<!doctype html><html lang=de><title>Start</title></html>",
    "feed.atom": ATOM_BODY,
    "feed.rss": b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
    "feed.json": b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
    "style.css": b"body { margin: 0 }",
    "sitemap.xml": b'<?xml version="1.0"?><urlset/>',
    "quellen.opml": b'<?xml version="1.0"?><opml version="2.0"/>',
    "artikel/ein-artikel.html": b"<!doctype html><html lang=de><title>Artikel</title></html>",
    "quellen/index.html": b"<!doctype html><html lang=de><title>Quellen</title></html>",
    "archiv/1.atom": ATOM_BODY,
    "archiv/2.atom": ATOM_BODY,  # changed by a test
    ".feed.atom.abcdefgh.tmp": b"half written",
}

SECRET = b"outside the output folder"


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder and one server for the module's requests: none of them writes."""
    tmp_path = tmp_path_factory.mktemp("serve")
    folder = tmp_path / "output"
    for name, body in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(body)
    (folder / "leer").mkdir()  # a folder without index.html
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (folder / "artikel" / "geheim.html").symlink_to(tmp_path / "secret.txt")
    (folder / "raus").symlink_to(tmp_path, target_is_directory=True)
    return folder


@pytest.fixture(scope="module")
def site(output: Path) -> Iterator[Address]:
    with serving(output, "127.0.0.1", 0) as server:
        yield server.address


@pytest.fixture
def client(site: Address) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, headers={"Accept-Encoding": "identity"}) as c:
        yield c


def raw_get(site: Address, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written: httpx would resolve `..` before sending."""
    connection = http.client.HTTPConnection(site.host, site.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("feed.atom", "application/atom+xml; charset=utf-8"),
        ("feed.rss", "application/rss+xml; charset=utf-8"),
        ("feed.json", "application/feed+json; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
        ("artikel/ein-artikel.html", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("sitemap.xml", "application/xml; charset=utf-8"),
        ("quellen.opml", "application/xml; charset=utf-8"),
        ("archiv/1.atom", "application/atom+xml; charset=utf-8"),
    ],
)
def test_files_are_served_with_their_content_type(
    client: httpx.Client, output: Path, path: str, content_type: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (output / path).read_bytes()
    assert response.headers["etag"] and response.headers["last-modified"]


def test_the_root_and_folders_serve_their_index(client: httpx.Client) -> None:
    assert client.get("/").content == FILES["index.html"]
    assert client.get("/quellen/").content == FILES["quellen/index.html"]
    redirect = client.get("/quellen")
    assert redirect.status_code in (307, 308)
    assert redirect.headers["location"].endswith("/quellen/")


def test_unchanged_files_answer_304(client: httpx.Client) -> None:
    first = client.get("feed.atom")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    by_tag = client.get("feed.atom", headers={"If-None-Match": etag})
    assert by_tag.status_code == 304 and by_tag.content == b""
    assert by_tag.headers["etag"] == etag
    weak = client.get("feed.atom", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    by_date = client.get("feed.atom", headers={"If-Modified-Since": modified})
    assert by_date.status_code == 304
    other = client.get("feed.atom", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == ATOM_BODY


def test_a_changed_file_is_sent_again(client: httpx.Client, output: Path) -> None:
    etag = client.get("archiv/2.atom").headers["etag"]
    (output / "archiv" / "2.atom").write_bytes(ATOM_BODY + b"<!-- neu -->")
    response = client.get("archiv/2.atom", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.content.endswith(b"<!-- neu -->")


def test_text_is_gzipped_when_the_client_accepts_it(client: httpx.Client) -> None:
    response = client.get("feed.atom", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert int(response.headers["content-length"]) < len(ATOM_BODY)
    assert response.content == ATOM_BODY  # httpx decoded it
    # The compressed bytes are not the file's: their validator is weak, and still matches.
    etag = response.headers["etag"]
    assert etag.startswith('W/"')
    again = client.get("feed.atom", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304


def test_without_accept_encoding_the_body_is_plain(site: Address) -> None:
    with httpx.Client(base_url=site.url) as c:
        request = c.build_request("GET", "feed.atom")
        del request.headers["accept-encoding"]
        response = c.send(request, stream=True)
        raw = b"".join(response.iter_raw())
        response.close()
    assert "content-encoding" not in response.headers
    assert raw == ATOM_BODY
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(raw)


def test_head_sends_the_headers_without_a_body(client: httpx.Client) -> None:
    response = client.head("feed.atom")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert response.headers["content-length"] == str(len(ATOM_BODY))
    assert response.headers["etag"] == client.get("feed.atom").headers["etag"]


def test_other_methods_are_refused(client: httpx.Client) -> None:
    assert client.post("feed.atom", content=b"x").status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/artikel/..%2f..%2fsecret.txt",
        "/artikel/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/artikel/../../secret.txt",
        "/artikel/geheim.html",  # a symlink out of the folder
        "/raus/secret.txt",  # a folder symlinked from outside
        "//secret.txt",
    ],
)
def test_nothing_outside_the_output_folder_is_served(site: Address, path: str) -> None:
    status, body = raw_get(site, path)
    assert status == 404, (path, status)
    assert SECRET not in body


def test_folders_are_never_listed(site: Address) -> None:
    status, body = raw_get(site, "/leer/")
    assert status == 404
    assert b"leer" not in body
    status, body = raw_get(site, "/archiv/")
    assert status == 404
    assert b"1.atom" not in body


def test_dotfiles_are_not_served(site: Address) -> None:
    """`write_atomic`'s temp files sit beside the pages until they are renamed."""
    status, body = raw_get(site, "/.feed.atom.abcdefgh.tmp")
    assert status == 404 and b"half written" not in body


def test_a_missing_output_folder_answers_404_until_it_is_written(tmp_path: Path) -> None:
    later = tmp_path / "noch-nicht"
    with serving(later, "127.0.0.1", 0) as server, httpx.Client(base_url=server.address.url) as c:
        assert c.get("index.html").status_code == 404
        later.mkdir()
        (later / "index.html").write_bytes(FILES["index.html"])
        assert c.get("index.html").status_code == 200


def test_a_busy_port_is_one_clear_error() -> None:
    taken = listen("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(KanalwerkError, match=rf"127\.0\.0\.1:{port}.*--port"):
            listen("127.0.0.1", port)
    finally:
        taken.close()


def test_serve_without_output_says_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "site: {title: T, base_url: 'https://example.org/', author: A}\n"
        "output: nirgends/\n"
        "channels:\n  - name: X\n    url: https://example.org/feed\n",
        encoding="utf-8",
    )
    result = run_cli(config, "serve", "--port", "0")
    assert result.returncode != 0
    assert "does not exist yet" in result.stderr and "publish" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_serve_with_once_is_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "feeds.yaml", "run", "--once", "--serve")
    assert result.returncode == 2
    assert "--serve" in result.stderr


# --- the commands as processes ---------------------------------------------------------

URL_LINE = re.compile(r"Serving (.+) at (http://127\.0\.0\.1:(\d+)/) — Ctrl-C stops")


@contextlib.contextmanager
def serving_process(config: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`kanalwerk ARGS` started, with the URL from its first line of stdout; killed if
    the test leaves it running."""
    process = subprocess.Popen(
        command(config, *args),
        cwd=config.parent,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = URL_LINE.fullmatch(line.strip())
        assert match, line or process.communicate(timeout=15)[1]
        assert match.group(3) != "0"  # the real port, not the one asked for
        yield process, match.group(2)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=15)
    return process.returncode, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_and_stops_cleanly(output: Path, signum: int) -> None:
    config = output.parent / f"feeds-{signum}.yaml"
    config.write_text(
        "site: {title: T, base_url: 'https://example.org/', author: A}\n"
        "output: output/\n"
        "channels:\n  - name: X\n    url: https://example.org/feed\n",
        encoding="utf-8",
    )
    with (
        serving_process(config, "serve", "--port", "0") as (process, url),
        httpx.Client(base_url=url) as c,  # a kept-alive connection must not hold it up
    ):
        assert c.get("feed.atom").headers["content-type"].startswith("application/atom+xml")
        returncode, stderr = stop(process, signum)
    assert returncode == 0, stderr
    assert "Traceback" not in stderr


def test_run_serve_serves_what_the_daemon_publishes(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/notes.rss"] = Resource(rss("Notes", POSTS[:1]))
    FakeLibreTranslate(server)
    config = libretranslate_config(tmp_path, server)
    with serving_process(config, "run", "--serve", "--port", "0") as (process, url):
        with httpx.Client(base_url=url) as c:
            assert wait_for(lambda: c.get("feed.atom").status_code == 200)
            feed = c.get("feed.atom")
            assert feed.headers["content-type"] == "application/atom+xml; charset=utf-8"
            assert b"OPEN MODEL BEATS THE GIANTS" in feed.content
        returncode, stderr = stop(process, signal.SIGTERM)
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
