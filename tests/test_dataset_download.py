"""download_dataset against a local HTTP server that serves archives built from the shared DreamBench copy.

What matters is the failure behaviour: whatever goes wrong (a dropped connection, a
404, an altered image, a hostile member path), the destination must end up exactly
as it was and no staging files may be left beside it.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchmark.errors import BenchError
from dataset import download
from dataset.download import download_dataset, has_valid_copy
from dataset.protocol import load_protocol
from dataset.validate import find_problems

TOP = "dreambooth-main"
ALTERED = "backpack/02.jpg"
TIMEOUT = 5.0


# --- archives ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset_files(dreambench_dir: Path) -> dict[str, bytes]:
    """The 30 subject folders and the two upstream text files, keyed by their path inside dataset/."""
    files = {
        p.relative_to(dreambench_dir).as_posix(): p.read_bytes()
        for p in sorted(dreambench_dir.rglob("*"))
        if p.is_file()
    }
    assert "prompts_and_classes.txt" in files and "references_and_licenses.txt" in files
    return files


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr(f"{TOP}/", b"")
        bundle.writestr(f"{TOP}/README.md", b"DreamBooth\n")
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upstream_layout(files: dict[str, bytes]) -> dict[str, bytes]:
    return {f"{TOP}/dataset/{name}": data for name, data in files.items()}


@pytest.fixture(scope="module")
def good_zip(dataset_files: dict[str, bytes]) -> bytes:
    return zip_bytes(upstream_layout(dataset_files))


# --- a local server ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Serves files from server.root; `?cut` drops the connection halfway, `?stall` goes silent."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        parsed = urlsplit(self.path)
        file = self.server.root / parsed.path.lstrip("/")
        if not file.is_file():
            self.send_error(404, "Not Found")
            return
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if parsed.query == "cut":
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        elif parsed.query == "stall":
            self.wfile.write(data[:1024])
            self.wfile.flush()
            self.server.release.wait(10)
        else:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Served:
    def __init__(self, httpd: ThreadingHTTPServer, root: Path) -> None:
        self.httpd = httpd
        self.root = root

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def publish(self, name: str, data: bytes, mode: str = "") -> str:
        (self.root / name).write_bytes(data)
        return self.url(name, mode)

    def url(self, name: str, mode: str = "") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}" + (f"?{mode}" if mode else "")


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root, httpd.requests, httpd.release = root, [], threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Served(httpd, root)
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(TIMEOUT)


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug that ignores `url` or `dest` must fail here, not reach GitHub or the user's cache."""
    monkeypatch.delenv(download.URL_ENV_VAR, raising=False)
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "default-cache"))
    monkeypatch.setattr(download, "DEFAULT_URL", "http://127.0.0.1:9/unreachable.zip")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    folder = tmp_path / "cache"
    folder.mkdir()
    return folder


def fetch(url: str, dest: Path, **kwargs) -> Path:
    return download_dataset(dest, url, progress=False, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def assert_exact_copy(dest: Path, dataset_files: dict[str, bytes]) -> None:
    protocol = load_protocol()
    images = [(dest / s.name / e.file, e.sha256) for s in protocol.subjects.values() for e in s.images]
    assert len(images) == 158
    for path, sha in images:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, path
    assert find_problems(dest, protocol) == []
    for name in ("prompts_and_classes.txt", "references_and_licenses.txt"):
        assert (dest / name).read_bytes() == dataset_files[name]


def raises_one_line(call, *args, **kwargs) -> str:
    with pytest.raises(BenchError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- success ----------------------------------------------------------------------------------


def test_download_installs_verified_copy_and_second_call_does_not_refetch(server, cache, good_zip, dataset_files):
    url = server.publish("main.zip", good_zip)
    dest = cache / "dataset"

    assert fetch(url, dest) == dest
    assert_exact_copy(dest, dataset_files)
    assert not (dest / "README.md").exists(), "only the dataset/ folder belongs in dest"
    assert names_in(cache) == ["dataset"], "staging files were left beside dest"
    assert len(server.requests) == 1

    stamp = dest.stat().st_ino
    assert fetch(url, dest) == dest
    assert len(server.requests) == 1, "a valid copy was downloaded again"
    assert dest.stat().st_ino == stamp
    assert has_valid_copy(dest)


def test_url_and_dest_default_from_environment(server, tmp_path, good_zip, monkeypatch):
    url = server.publish("from-env.zip", good_zip)
    monkeypatch.setenv(download.URL_ENV_VAR, url)

    dest = download_dataset(progress=False, timeout=TIMEOUT)

    assert dest == tmp_path / "default-cache" / "dreambench-v1" / "dataset"
    assert server.requests == ["/from-env.zip"]
    assert find_problems(dest, load_protocol()) == []


@pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-url"])
def test_local_archive(tmp_path, cache, good_zip, dataset_files, as_uri):
    archive = tmp_path / "local.zip"
    archive.write_bytes(good_zip)
    dest = cache / "dataset"

    fetch(archive.as_uri() if as_uri else str(archive), dest)

    assert_exact_copy(dest, dataset_files)
    assert names_in(cache) == ["dataset"]
    assert archive.read_bytes() == good_zip


def test_tar_gz_is_detected_by_content_not_name(server, cache, dataset_files):
    url = server.publish("really-a-tarball.zip", tar_gz_bytes(upstream_layout(dataset_files)))
    dest = cache / "dataset"

    fetch(url, dest)

    assert_exact_copy(dest, dataset_files)
    assert names_in(cache) == ["dataset"]


def test_force_replaces_valid_copy_and_removes_the_old_one(server, cache, good_zip, dataset_files):
    url = server.publish("main.zip", good_zip)
    dest = cache / "dataset"
    fetch(url, dest)
    old_inode = dest.stat().st_ino

    fetch(url, dest, force=True)

    assert len(server.requests) == 2
    assert dest.stat().st_ino != old_inode
    assert_exact_copy(dest, dataset_files)
    assert names_in(cache) == ["dataset"], "the old copy or staging was left behind"


def test_empty_destination_folder_is_filled(server, cache, good_zip):
    dest = cache / "dataset"
    dest.mkdir()

    fetch(server.publish("main.zip", good_zip), dest)

    assert has_valid_copy(dest)


# --- failures ---------------------------------------------------------------------------------


def test_truncated_transfer_leaves_nothing(server, cache, good_zip):
    server.publish("main.zip", good_zip)
    url = server.url("main.zip", "cut")
    dest = cache / "dataset"

    message = raises_one_line(fetch, url, dest)

    assert url in message
    assert f"of {len(good_zip)} bytes" in message
    assert not dest.exists()
    assert names_in(cache) == []


def test_altered_image_is_named_and_nothing_installed(server, cache, dataset_files):
    files = dict(dataset_files)
    data = bytearray(files[ALTERED])
    data[len(data) // 2] ^= 0xFF
    files[ALTERED] = bytes(data)
    dest = cache / "dataset"

    message = raises_one_line(fetch, server.publish("altered.zip", zip_bytes(upstream_layout(files))), dest)

    assert ALTERED in message
    assert "does not match DreamBench" in message
    assert not dest.exists()
    assert names_in(cache) == []


def test_http_404_is_one_clear_line(server, cache):
    url = server.url("nope.zip")
    dest = cache / "dataset"

    message = raises_one_line(fetch, url, dest)

    assert url in message and "HTTP 404" in message
    assert not dest.exists()
    assert names_in(cache) == []


def test_force_keeps_old_copy_when_transfer_fails(server, cache, good_zip, dataset_files):
    server.publish("main.zip", good_zip)
    dest = cache / "dataset"
    fetch(server.url("main.zip"), dest)
    old_inode = dest.stat().st_ino

    raises_one_line(fetch, server.url("main.zip", "cut"), dest, force=True)

    assert dest.stat().st_ino == old_inode
    assert_exact_copy(dest, dataset_files)
    assert names_in(cache) == ["dataset"]


def test_stalled_server_times_out(server, cache, good_zip):
    server.publish("main.zip", good_zip)
    url = server.url("main.zip", "stall")

    message = raises_one_line(fetch, url, cache / "dataset", timeout=0.3)

    assert url in message and "timed out" in message
    assert names_in(cache) == []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (lambda good: b"<html>rate limited</html>", "not a .zip or .tar.gz"),
        (lambda good: good[: len(good) // 2], "damaged"),
    ],
    ids=["not-an-archive", "truncated-zip"],
)
def test_unusable_archive_is_reported(server, cache, good_zip, payload, expected):
    url = server.publish("main.zip", payload(good_zip))

    message = raises_one_line(fetch, url, cache / "dataset")

    assert expected in message and url in message
    assert names_in(cache) == []


def test_archive_without_dataset_folder(server, cache, dataset_files):
    members = {f"{TOP}/images/{name}": data for name, data in dataset_files.items()}

    message = raises_one_line(fetch, server.publish("main.zip", zip_bytes(members)), cache / "dataset")

    assert "no dataset/ folder" in message
    assert names_in(cache) == []


@pytest.mark.parametrize("packer", [zip_bytes, tar_gz_bytes], ids=["zip", "tar.gz"])
@pytest.mark.parametrize("hostile", ["relative", "absolute"])
def test_member_escaping_the_folder_is_rejected(server, tmp_path, cache, dataset_files, packer, hostile):
    """The rest of the archive is a valid DreamBench, so only the path guard can stop this download."""
    if hostile == "relative":
        name = f"{TOP}/dataset/" + "../" * 5 + "escape.txt"
    else:
        name = (tmp_path / "escape.txt").as_posix()
    members = upstream_layout(dataset_files) | {name: b"pwned"}
    dest = cache / "dataset"

    message = raises_one_line(fetch, server.publish("slip.bin", packer(members)), dest)

    assert "unsafe member" in message and "escape.txt" in message
    assert list(tmp_path.rglob("escape.txt")) == []
    assert not (tmp_path.parent / "escape.txt").exists()
    assert not dest.exists()
    assert names_in(cache) == []


def test_folder_with_other_content_needs_force(server, cache, good_zip):
    dest = cache / "dataset"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")

    message = raises_one_line(fetch, server.publish("main.zip", good_zip), dest)

    assert "--force" in message
    assert server.requests == []
    assert names_in(dest) == ["notes.txt"]


def test_unsupported_scheme(cache):
    message = raises_one_line(fetch, "ftp://example.org/main.zip", cache / "dataset")

    assert "ftp://example.org/main.zip" in message
    assert os.listdir(cache) == []
