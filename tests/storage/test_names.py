"""The names a download is saved under: the ASCII fallback for old browsers, and the exact one."""

from __future__ import annotations

from urllib.parse import unquote

from storage.names import content_disposition


def test_a_name_starting_with_an_emoji_falls_back_without_a_leading_space() -> None:
    header = content_disposition("📄 hồ sơ đất.pdf")
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback == "ho so dat.pdf"
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == "📄 hồ sơ đất.pdf"


def test_a_name_of_nothing_but_emoji_falls_back_to_file() -> None:
    assert 'filename="file"' in content_disposition("📄📄.")
