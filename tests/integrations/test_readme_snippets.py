"""The README's webhook verification code, run as written with the official Standard Webhooks
libraries: Python here, JavaScript with node and the npm package when they can be had."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from integrations.signing import standard_headers

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64, as endpoints get them
LEGACY_SECRET = "whsec_2pK0-Jm4xq_S9vY1c8Hn7tLw3aRbE6fGdZ5uQhNiVoM"  # URL-safe text, as they were made before
BODY = json.dumps({"id": "1c7e4d2a-…", "type": "consent.revoked", "data": {"number": "+15125550142"}}).encode()


def _snippet(language: str) -> str:
    section = README.read_text().split("### Webhooks", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)
    return code


def readme_python_verifier():
    """``verify(body, headers, secret)`` made of the README's Python snippet, run as written."""

    def verify(body: bytes, headers: dict, secret: str):
        namespace: dict = {}
        code = _snippet("python").replace('TEXTDESK_SECRET = "whsec_..."', f"TEXTDESK_SECRET = {secret!r}")
        exec(compile(code, "README.md (Webhooks, Python)", "exec"), namespace)
        return namespace["textdesk_event"](body, headers)

    return verify


def _signed(secrets: list[str], *, at: int | None = None, msg_id: str = "1c7e4d2a") -> dict[str, str]:
    return standard_headers(secrets=secrets, msg_id=msg_id, timestamp=at or int(time.time()), body=BODY)


@pytest.mark.parametrize("secret", [SECRET, LEGACY_SECRET])
def test_the_python_snippet_accepts_a_delivery_and_refuses_tampering_and_replays(secret):
    verify = readme_python_verifier()
    signing, secret = secret, secret if secret == SECRET else "whsec_" + base64.b64encode(secret.encode()).decode()

    assert verify(BODY, _signed([signing]), secret) == json.loads(BODY)
    assert verify(BODY.replace(b"revoked", b"granted"), _signed([signing]), secret) is None
    assert verify(BODY, _signed([signing]), "whsec_d3JvbmctYnV0LWJhc2U2NA==") is None
    assert verify(BODY, _signed([signing], at=int(time.time()) - 301), secret) is None  # replayed later
    assert verify(BODY, {**_signed([signing]), "webhook-id": "another"}, secret) is None
    rotated = _signed(["whsec_bmV3LXNlY3JldC1hZnRlci1yb3RhdGlvbg==", signing])
    assert verify(BODY, rotated, secret) is not None
    assert verify(BODY, rotated, "whsec_bmV3LXNlY3JldC1hZnRlci1yb3RhdGlvbg==") is not None


def _node_with_standardwebhooks(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    try:
        subprocess.run(
            ["npm", "install", "--no-save", "--no-audit", "--no-fund", "standardwebhooks@1"],
            cwd=tmp_path, capture_output=True, text=True, check=True, timeout=180,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"the npm package standardwebhooks could not be installed: {exc}")


def test_the_javascript_snippet_accepts_a_delivery_and_refuses_tampering(tmp_path):
    _node_with_standardwebhooks(tmp_path)
    (tmp_path / "verify.js").write_text(_snippet("javascript"))
    (tmp_path / "run.js").write_text(
        "const { textdeskEvent } = require('./verify.js');\n"
        "const [body, headers, secret] = JSON.parse(process.argv[2]);\n"
        "console.log(JSON.stringify(textdeskEvent(Buffer.from(body), headers, secret)));\n"
    )

    def verify(body: bytes, headers: dict, secret: str):
        args = json.dumps([body.decode(), headers, secret])
        result = subprocess.run(["node", "run.js", args], cwd=tmp_path, capture_output=True, text=True, check=True)
        return json.loads(result.stdout)

    assert verify(BODY, _signed([SECRET]), SECRET) == json.loads(BODY)
    assert verify(BODY.replace(b"revoked", b"granted"), _signed([SECRET]), SECRET) is None
    assert verify(BODY, _signed([SECRET], at=int(time.time()) - 301), SECRET) is None
    assert verify(BODY, _signed(["whsec_bmV3LXNlY3JldC1hZnRlci1yb3RhdGlvbg==", SECRET]), SECRET) is not None
