"""log_tail: the end of a service's log, for failure reports."""

from pathlib import Path

from stack.log_tail import log_tail


def test_the_tail_is_the_last_lines_of_the_log(tmp_path: Path) -> None:
    log = tmp_path / "promoter.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))

    assert log_tail(log, lines=3) == ["line 97", "line 98", "line 99"]


def test_a_log_that_was_never_written_has_no_tail(tmp_path: Path) -> None:
    assert log_tail(tmp_path / "missing.log") == []


def test_a_long_log_is_read_from_its_end_only(tmp_path: Path) -> None:
    log = tmp_path / "sink.log"
    log.write_bytes(b"x" * 1_000_000 + b"\nTraceback: the last line\n")

    assert log_tail(log, lines=1) == ["Traceback: the last line"]
