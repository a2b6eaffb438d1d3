"""DATA_DIR holds the embedded Redis's append-only file (every resident's record) and the key for hashed
chat ids: only the service's own user may read it, whoever created the directory (systemd's
StateDirectory is 0755 by default, a volume mount is whatever the host made it)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.settings import ConfigurationError

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


class DataDirError(ConfigurationError):
    """DATA_DIR cannot be created or made private; the message names the path and the reason."""


def secure_data_dir(data_dir: Path) -> None:
    """Create DATA_DIR if needed, then make it and everything in it private: directories 0700, files
    (and the server's socket) 0600. Symbolic links are left alone, never followed."""
    try:
        data_dir.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create DATA_DIR {data_dir}: {exc.strerror}") from None
    _restrict(data_dir, DIRECTORY_MODE)
    for root, directories, files in os.walk(data_dir):
        for name in directories:
            _restrict(Path(root, name), DIRECTORY_MODE)
        for name in files:
            _restrict(Path(root, name), FILE_MODE)


def _restrict(path: Path, mode: int) -> None:
    try:
        current = path.lstat()
        if stat.S_ISLNK(current.st_mode) or stat.S_IMODE(current.st_mode) == mode:
            return
        path.chmod(mode)
    except FileNotFoundError:  # the server removed it meanwhile (a temporary file, its socket)
        return
    except OSError as exc:
        raise DataDirError(
            f"cannot make {path} private (mode {mode:o}): {exc.strerror}; "
            "DATA_DIR and its files must belong to the user stadtfunk runs as"
        ) from None
