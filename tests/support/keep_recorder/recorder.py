"""A stand-in for apps.artefatos.services.keep (a placeholder until the artefatos work lands) that does what
the interface promises to the caller: moves the checked file away and records the call (JSON lines).

Used in-process through monkeypatch, and in RQ worker subprocesses through sitecustomize.py beside it
(PYTHONPATH, with PORTAL_KEEP_DIR naming where files and calls go). Swap it for the real keep() after merge.
"""
import hashlib
import json
import os
import shutil
from pathlib import Path


def recorder(directory):
    """A keep(execucao, kind, *, name, path, content_type, sha256, size) that moves into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def keep(execucao, kind, *, name, path, content_type, sha256, size):
        data = Path(path).read_bytes()
        target = directory / f"{execucao.id}-{len(list(directory.glob('*.bin')))}.bin"
        shutil.move(path, target)
        call = {"execucao_id": str(execucao.id), "kind": kind, "name": name, "content_type": content_type,
                "sha256": sha256, "size": size, "stored": str(target),
                "file_sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data)}
        with open(directory / "calls.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(call) + "\n")
        return call

    return keep


def calls(directory) -> list[dict]:
    path = Path(directory) / "calls.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()] if path.exists() else []


def install_from_env():
    """Replace keep() when PORTAL_KEEP_DIR is set (the worker subprocesses of a test)."""
    directory = os.environ.get("PORTAL_KEEP_DIR")
    if directory:
        from apps.artefatos import services

        services.keep = recorder(directory)
