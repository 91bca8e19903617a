"""State folders are private: created mode 700, so other local users read no data or secret."""

from pathlib import Path


def make_private(folder: Path) -> Path:
    """Create ``folder`` (and missing parents) mode 700; an existing one is set to 700.

    Returns:
        ``folder``.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder
