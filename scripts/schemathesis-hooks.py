"""Schemathesis hooks for scripts/schemathesis: an administrator's bearer
token on every request, provisioned again when the run has destroyed it.

Schemathesis learns identifiers from responses, so it deletes or disables
the client the token was issued to, or the administrator, sooner or later;
every admin operation after that would only see 401. When a request gets a
401, schemathesis asks for the token again: if it still works it is kept,
otherwise a new administrator and client are made with the CLI and a new
token is minted with the password grant.

Environment (set by scripts/schemathesis): PCST_BIN (the binary),
PCST_CONFIG (its configuration file), PCST_BASE (the server's base URL).
"""

import base64
import json
import os
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

import schemathesis

BIN = os.environ["PCST_BIN"]
CONFIG = os.environ["PCST_CONFIG"]
BASE = os.environ["PCST_BASE"]
PASSWORD = "schemathesis-admin-pw"

_lock = threading.Lock()
_state = {"token": None, "generation": 0}


def _cli(*args, stdin=""):
    out = subprocess.run(
        [BIN, "--config", CONFIG, *args],
        input=stdin.encode(),
        capture_output=True,
        check=True,
    )
    return json.loads(out.stdout)


def _works(token):
    req = urllib.request.Request(
        BASE + "/api/auth/me", headers={"Authorization": "Bearer " + token}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return json.load(res).get("admin") is True
    except (urllib.error.URLError, ValueError):
        return False


def provision():
    """A new administrator, a client with the password grant and scope
    admin, and an access token of theirs with scope admin."""
    _state["generation"] += 1
    username = "st-admin-%d" % _state["generation"]
    _cli("user", "add", "--username", username, "--admin", "--password-stdin", stdin=PASSWORD)
    client = _cli(
        "client", "add", "--name", "schemathesis", "--grant-type", "password",
        "--scope", "openid profile email admin",
    )
    basic = base64.b64encode(
        ("%s:%s" % (client["client_id"], client["client_secret"])).encode()
    ).decode()
    body = urllib.parse.urlencode(
        {"grant_type": "password", "username": username, "password": PASSWORD, "scope": "openid profile email admin"}
    ).encode()
    req = urllib.request.Request(
        BASE + "/oauth/token",
        data=body,
        headers={
            "Authorization": "Basic " + basic,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)["access_token"]


@schemathesis.auth()
class AdminToken:
    def get(self, case, context):
        with _lock:
            token = _state["token"]
            if token is None or not _works(token):
                token = provision()
                _state["token"] = token
            return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = "Bearer " + data
