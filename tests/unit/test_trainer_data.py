"""Loading the data set: the local file, or a download checked against its sha256."""

import hashlib
from pathlib import Path

import pytest

from cli.settings import Settings, load_settings
from trainer.data import load_raw, raw_key
from trainer.errors import DataError, DataIntegrityError

CSV = b"location,size,total_sqft,bath,price\nWhitefield,2 BHK,1000,2,50\n"


def settings_for(tmp_path: Path, source: Path, sha256: str) -> Settings:
    return load_settings(
        state_dir=tmp_path / "state",
        data_path=tmp_path / "absent" / "houses.csv",
        data_url=source.as_uri(),
        data_sha256=sha256,
    )


def test_the_configured_file_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "houses.csv"
    path.write_bytes(CSV)
    raw = load_raw(load_settings(data_path=path, data_sha256="0" * 64))
    assert raw.path == path and not raw.downloaded
    assert raw.sha256 == hashlib.sha256(CSV).hexdigest()
    assert list(raw.frame()["location"]) == ["Whitefield"]


def test_a_missing_file_is_downloaded_into_the_state_folder_and_checked(tmp_path: Path) -> None:
    source = tmp_path / "source.csv"
    source.write_bytes(CSV)
    settings = settings_for(tmp_path, source, hashlib.sha256(CSV).hexdigest())
    raw = load_raw(settings)
    assert raw.downloaded
    assert raw.path == tmp_path / "state" / "data" / "houses.csv"
    assert raw.path.read_bytes() == CSV
    # The second time the verified download is reused.
    source.unlink()
    assert not load_raw(settings).downloaded


def test_a_download_with_the_wrong_sha256_is_refused_and_not_kept(tmp_path: Path) -> None:
    source = tmp_path / "source.csv"
    source.write_bytes(CSV + b"tampered\n")
    settings = settings_for(tmp_path, source, hashlib.sha256(CSV).hexdigest())
    with pytest.raises(DataIntegrityError, match="refusing to use it"):
        load_raw(settings)
    assert not (tmp_path / "state" / "data" / "houses.csv").exists()
    assert not list((tmp_path / "state").rglob("*.part"))


def test_an_unreachable_source_is_a_data_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, tmp_path / "nowhere.csv", "0" * 64)
    with pytest.raises(DataError, match="could not download"):
        load_raw(settings)


def test_other_url_schemes_are_refused(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path, data_path=tmp_path / "absent.csv", data_url="ftp://example.org/x.csv"
    )
    with pytest.raises(DataError, match="scheme 'ftp'"):
        load_raw(settings)


def test_the_raw_copy_is_named_by_its_sha256() -> None:
    assert raw_key("ab" * 32) == f"data/raw/{'ab' * 32}.csv"
