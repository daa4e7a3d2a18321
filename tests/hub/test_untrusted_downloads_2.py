"""More of a hostile Hub against the real code: malformed redirect addresses, API answers of the
wrong shape, search pages that never end, file names no file system can hold. The real
huggingface_hub client and Duet's downloader against tests/fakehub.py; every call is bounded.
"""

from __future__ import annotations

import threading

import pytest

from desktop.core.errors import DownloadError, HubError
from desktop.core.hub import api as hub
from desktop.core.hub import download as dl
from tests.fakehub import FakeHub
from tests.hub.test_pull import duet
from tests.hub.test_untrusted_downloads import MB, blob, bounded, quick_retries  # noqa: F401

BAD_ADDRESS = "http://[::1"  # an IPv6 host without its closing bracket: no URL parser takes it


def test_a_redirect_to_a_malformed_address_is_a_download_error(
    fake_hub: FakeHub,
    quick_retries: None,  # noqa: F811
) -> None:
    repo = fake_hub.add_repo("org/Bad-GGUF", {"m.gguf": blob(MB, 21)})
    file = repo.files["m.gguf"]

    # The download URL redirects there...
    fake_hub.cdn_status = (302, {"Location": BAD_ADDRESS})
    token = dl.CancelToken()
    outcome, _ = bounded(lambda: dl.download("org/Bad-GGUF", "m.gguf", cancel=token), token, 10)
    assert isinstance(outcome, DownloadError), repr(outcome)
    assert "malformed address" in str(outcome)
    assert len(fake_hub.cdn_requests()) <= len(dl._RETRY_DELAYS) + 1

    # ... and so does the Hub's own answer about the file.
    fake_hub.cdn_status = None
    fake_hub.status["/org/Bad-GGUF/resolve/"] = (
        302,
        {
            "Location": BAD_ADDRESS,
            "X-Repo-Commit": repo.commit,
            "ETag": f'"{file.sha256}"',
            "X-Linked-Size": str(file.size),
        },
    )
    token = dl.CancelToken()
    outcome, _ = bounded(lambda: dl.download("org/Bad-GGUF", "m.gguf", cancel=token), token, 10)
    assert isinstance(outcome, HubError), repr(outcome)
    # "cannot read" where httpx parses the address; older httpx fails the request instead.
    assert "cannot read" in str(outcome) or "Cannot reach" in str(outcome)
    assert dl.cached_path("org/Bad-GGUF", "m.gguf") is None


def test_search_reads_one_page_whatever_the_hub_links_to(fake_hub: FakeHub) -> None:
    fake_hub.endless_pages = True  # empty pages, each with a link to the next
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(hub.search("tiny")), daemon=True)
    thread.start()
    thread.join(5)
    fake_hub.endless_pages = False  # a search still running ends at its next page
    thread.join(30)
    assert box == [[]]
    assert len([r for r in fake_hub.requests if r.path == "/api/models"]) == 1


def test_search_still_asks_what_huggingface_hub_asks(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/Many-GGUF", {"m.Q4_K_M.gguf": b"x"}, downloads=3)
    for n in range(40):
        fake_hub.add_repo(f"org/Tiny{n}-GGUF", {"t.Q4_K_M.gguf": b"y"}, downloads=100 + n)
    found = hub.search("tiny", limit=30)
    assert [r.repo_id for r in found] == [f"org/Tiny{n}-GGUF" for n in range(39, 9, -1)]
    assert all(r.downloads >= 110 for r in found)


MALFORMED = [
    {"id": "org/A-GGUF", "downloads": "many"},
    {"id": "org/A-GGUF", "lastModified": "not a date"},
    {"id": "org/A-GGUF", "siblings": 5},
    {"id": "org/A-GGUF", "tags": 5},
    {"id": "org/A-GGUF", "safetensors": 5},
    {"id": "org/A-GGUF", "downloads": 1e999},
    {"id": "org/A-GGUF", "siblings": [{"rfilename": "a.gguf", "size": 1, "lfs": 5}]},
    [1, 2],
]
# Sizes are read from the listing only.
BAD_SIZES = [
    {"id": "org/A-GGUF", "siblings": [{"rfilename": "a.gguf", "size": "large"}]},
    {"id": "org/A-GGUF", "siblings": [{"rfilename": "a.gguf", "size": -7}]},
]


@pytest.mark.parametrize("answer", MALFORMED + BAD_SIZES, ids=range(len(MALFORMED + BAD_SIZES)))
def test_an_api_answer_of_the_wrong_shape_is_a_hub_error(fake_hub: FakeHub, answer: object) -> None:
    if answer not in BAD_SIZES:
        fake_hub.api_json = [answer]  # a search answer is a list of these
        with pytest.raises(HubError, match="cannot read"):
            hub.search("a")
    fake_hub.api_json = answer
    with pytest.raises(HubError, match="cannot read"):
        hub.list_files("org/A-GGUF")
    fake_hub.api_json = 5  # not even a list
    with pytest.raises(HubError, match="cannot read"):
        hub.search("a")


def test_an_api_answer_nested_too_deeply_is_a_hub_error(fake_hub: FakeHub) -> None:
    fake_hub.api_json = b"[" * 100_000 + b"]" * 100_000  # valid JSON no parser can recurse into
    with pytest.raises(HubError, match="cannot read"):
        hub.search("a")
    with pytest.raises(HubError, match="cannot read"):
        hub.list_files("org/A-GGUF")


def test_a_repository_name_from_the_hub_that_is_not_one_is_a_hub_error(
    fake_hub: FakeHub,
) -> None:
    fake_hub.api_json = [{"id": "org/../../etc", "modelId": "org/../../etc"}]
    (found,) = hub.search("a")
    with pytest.raises(HubError, match="not a Hub repository"):
        hub.list_files(found.repo_id)


def test_duet_search_and_pull_say_so_without_a_traceback(fake_hub: FakeHub) -> None:
    fake_hub.api_json = [{"id": "org/A-GGUF", "siblings": 5}]
    for args in (("search", "a"), ("pull", "org/A-GGUF")):
        result = duet(*args)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr, result.stderr
        assert "cannot read" in result.stderr


@pytest.mark.parametrize(
    "name",
    ["x" * 300 + ".Q4_K_M.gguf", "sub/" + "é" * 130 + ".gguf", "a\x00b.gguf", "a\nb.gguf"],
    ids=["long", "long-utf8", "nul", "newline"],
)
def test_a_file_name_no_file_system_can_hold_is_refused_before_a_byte(
    fake_hub: FakeHub, name: str
) -> None:
    fake_hub.api_json = {
        "id": "org/Names-GGUF",
        "sha": "c0ffee" * 6 + "abcd",
        "siblings": [
            {"rfilename": name, "size": 100},
            {"rfilename": "ok.Q4_K_M.gguf", "size": 100},
        ],
    }
    listed = hub.list_files("org/Names-GGUF")
    assert [f.filename for f in listed.files] == ["ok.Q4_K_M.gguf"]
    assert listed.refused == (name,)
    with pytest.raises(DownloadError, match="Refusing the file name"):
        dl.download("org/Names-GGUF", name)
    assert fake_hub.cdn_requests() == []
