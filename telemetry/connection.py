"""The connection file: what a console needs to reach one session, in one JSON file.

Written by the server when it starts (like a Jupyter kernel's), readable only by its owner,
written atomically so a console never reads half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from telemetry.errors import ConnectionFileError
from telemetry.schemas import SessionId


class ConnectionInfo(BaseModel):
    """Endpoints, session id and the server's Curve public key (None on plain loopback)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    protocol: Literal[1] = 1
    session_id: SessionId
    pub: Annotated[str, Field(min_length=6)]
    command: Annotated[str, Field(min_length=6)]
    control: Annotated[str, Field(min_length=6)]
    server_public_key: str | None = None
    pid: int | None = None

    def write(self, path: Path) -> Path:
        """Write atomically with mode 0600; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.model_dump_json(indent=2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, path: Path) -> ConnectionInfo:
        """Read and validate a connection file, with an error that says what is wrong."""
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConnectionFileError(f"cannot read connection file {path}: {exc}") from exc
        try:
            return cls.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            raise ConnectionFileError(f"{path} is not a vret connection file: {exc}") from exc
