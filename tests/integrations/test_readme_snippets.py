"""The README's webhook verification code, run as written: Python here, JavaScript with node when present."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from integrations.signing import signature_header

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "whsec_test-secret"
BODY = json.dumps({"id": "1c7e…", "type": "consent.revoked", "data": {"number": "+15125550142"}}).encode()


def _snippet(language: str) -> str:
    section = README.read_text().split("### Webhooks", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)
    return code


def readme_python_verifier():
    namespace: dict = {}
    exec(compile(_snippet("python"), "README.md (Webhooks, Python)", "exec"), namespace)
    return namespace["verify_textdesk_signature"]


def test_the_python_snippet_accepts_a_textdesk_signature_and_refuses_tampering_and_replays():
    verify = readme_python_verifier()
    now = int(time.time())
    header = signature_header(secrets=[SECRET], timestamp=now, body=BODY)

    assert verify(BODY, header, SECRET)
    assert not verify(BODY.replace(b"revoked", b"granted"), header, SECRET)
    assert not verify(BODY, header, "whsec_wrong")
    assert not verify(BODY, header, SECRET, now=now + 301)
    rotated = signature_header(secrets=["whsec_new", SECRET], timestamp=now, body=BODY)
    assert verify(BODY, rotated, SECRET) and verify(BODY, rotated, "whsec_new")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_snippet_accepts_a_textdesk_signature_and_refuses_tampering(tmp_path):
    (tmp_path / "verify.js").write_text(_snippet("javascript"))
    (tmp_path / "run.js").write_text(
        "const { verifyTextdeskSignature } = require('./verify.js');\n"
        "const [body, header, secret, now] = JSON.parse(process.argv[2]);\n"
        "console.log(JSON.stringify(verifyTextdeskSignature(Buffer.from(body), header, secret,"
        " now === null ? undefined : now)));\n"
    )
    now = int(time.time())
    header = signature_header(secrets=[SECRET], timestamp=now, body=BODY)

    def verify(body: bytes, header: str, secret: str, at: int | None = None) -> bool:
        args = json.dumps([body.decode(), header, secret, at])
        result = subprocess.run(["node", "run.js", args], cwd=tmp_path, capture_output=True, text=True, check=True)
        return json.loads(result.stdout)

    assert verify(BODY, header, SECRET) is True
    assert verify(BODY.replace(b"revoked", b"granted"), header, SECRET) is False
    assert verify(BODY, header, "whsec_wrong") is False
    assert verify(BODY, header, SECRET, at=now + 301) is False
