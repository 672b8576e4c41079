"""The peers' own virtual environment: OpenStack's Keystone and Placement from PyPI, and uWSGI to serve them.

Nothing of theirs is committed or imported here: they live in a venv outside the work tree
(``~/.cache/twinstack-peers/venv`` by default, so that every clone on a machine, CI's fresh ones included,
shares it) and run as separate processes. Installing is idempotent: a venv whose marker names the same
requirements is reused as it is, so only the first run pays the install (about 2 minutes here, uWSGI's C
build included).
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

#: What the peers' venv holds. Versions are left to pip (the newest release for this Python); the marker
#: file records the list, and the JSON report records the installed versions.
REQUIREMENTS = ("keystone", "openstack-placement", "uwsgi")
DEFAULT_VENV = Path.home() / ".cache" / "twinstack-peers" / "venv"
MARKER = "twinstack-peers.txt"


def ensure_venv(path: Path = DEFAULT_VENV) -> Path:
    """A venv at ``path`` with :data:`REQUIREMENTS` installed; reused when its marker says it is complete.

    The marker is written only after pip succeeded, so an interrupted install is resumed (pip skips what is
    there) rather than trusted.
    """
    marker = path / MARKER
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if marker.exists() and marker.read_text() == wanted and (path / "bin" / "python").exists():
        return path
    print(f"installing the peers ({', '.join(REQUIREMENTS)}) into {path} ...", file=sys.stderr, flush=True)
    if not (path / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return path


def versions(path: Path) -> dict[str, str]:
    """The installed version of each requirement, for the report."""
    code = ("import importlib.metadata as m, json, sys; "
            "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))")
    out = subprocess.run([str(path / "bin" / "python"), "-c", code, *REQUIREMENTS], check=True,
                         capture_output=True, text=True).stdout
    found: dict[str, str] = json.loads(out)
    return found
