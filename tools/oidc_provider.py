"""A real OpenID provider for tests/it/oidc.rs and tests/browser/:
oidc-provider-mock (PyPI, not written here) served over HTTPS on loopback,
as kube-apiserver and the dashboard require of an issuer.

    python tools/oidc_provider.py --dir DIR [--user '{"sub": ..., ...}' ...]

Writes DIR/ca.pem (a CA made for this run, trusted by the dashboard with
--oidc-ca-file) and prints `issuer https://127.0.0.1:PORT` once serving;
serves until stdin closes.

Besides the provider's own endpoints, GET /test/forge?kind=K&aud=A&sub=S
returns tokens an attacker could bring (the test's side, not the provider's):
  expired  - signed with the provider's own key, expired an hour ago
  audience - signed with the provider's own key, for another client
  otherkey - a fresh RSA key claiming the provider's key id
  none     - "alg": "none", no signature
  hs256    - HMAC-signed with the client id as the secret
"""

import argparse
import datetime
import json
import sys
import threading
import time
from pathlib import Path

import flask
import werkzeug.serving
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

import oidc_provider_mock
from oidc_provider_mock._storage import User


def make_tls(directory: Path) -> tuple[Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test OIDC CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file = directory / "server.pem"
    key_file = directory / "server-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def forge_routes(app: flask.Flask) -> None:
    @app.get("/test/forge")
    def forge():
        storage = flask.g.oidc_provider_mock_storage
        issuer = flask.request.host_url.rstrip("/")
        kind = flask.request.args["kind"]
        aud = flask.request.args.get("aud", "rollouts-dashboard")
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": flask.request.args.get("sub", "alice"),
            "aud": aud,
            "iat": now,
            "exp": now + 600,
            "email": "alice@example.com",
            "groups": ["team-a"],
        }
        # The provider keeps an authlib key; joserfc signs with its JWK.
        jwk = storage.jwk.as_dict(is_private=True)
        real = RSAKey.import_key(jwk)
        kid = jwk.get("kid")

        def header(alg: str) -> dict:
            return {"alg": alg, "kid": kid} if kid else {"alg": alg}
        if kind == "expired":
            claims.update(iat=now - 7200, exp=now - 3600)
            token = jwt.encode(header("RS256"), claims, real)
        elif kind == "audience":
            claims["aud"] = "another-client"
            token = jwt.encode(header("RS256"), claims, real)
        elif kind == "otherkey":
            other = RSAKey.generate_key(2048, private=True)
            token = jwt.encode(header("RS256"), claims, other)
        elif kind == "hs256":
            token = jwt.encode(header("HS256"), claims, OctKey.import_key(aud.encode() * 4), algorithms=["HS256"])
        elif kind == "none":
            import base64

            def b64(d: dict) -> str:
                return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

            token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
        else:
            flask.abort(400)
        return flask.jsonify(token) if flask.request.args.get("json") else token


def flow_routes(app: flask.Flask) -> None:
    """The person's side of the provider's own sign-in, driven in-process
    through its real endpoints: what a browser would click."""

    from urllib.parse import parse_qs, urlparse

    @app.get("/test/authorize")
    def authorize_as():
        # `url`: an authorization URL a relying party sent the browser to.
        url = urlparse(flask.request.args["url"])
        client = app.test_client()
        answer = client.post(
            url.path + "?" + url.query,
            data={"sub": flask.request.args["sub"]},
            base_url=flask.request.host_url,
        )
        return {"status": answer.status_code, "location": answer.headers.get("Location")}

    @app.get("/test/login")
    def login_as():
        # An ID token for `sub`, by the authorization-code flow.
        client = app.test_client()
        client_id = flask.request.args.get("client_id", "rollouts-dashboard")
        back = "http://127.0.0.1/callback"
        answer = client.post(
            "/oauth2/authorize",
            query_string={
                "client_id": client_id,
                "redirect_uri": back,
                "response_type": "code",
                "scope": "openid email profile",
                "state": "test",
                "nonce": "test",
            },
            data={"sub": flask.request.args["sub"]},
            base_url=flask.request.host_url,
        )
        code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
        tokens = client.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": back,
                "client_id": client_id,
                "client_secret": "test",
            },
            base_url=flask.request.host_url,
        )
        return tokens.get_json()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--user", action="append", default=[], help="JSON claims with a sub")
    parser.add_argument("--token-max-age", type=int, default=3600)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = make_tls(args.dir)
    users = []
    for raw in args.user:
        claims = json.loads(raw)
        sub = claims.pop("sub")
        users.append(User(sub=sub, claims=claims))
    app = oidc_provider_mock.app(
        require_nonce=True,
        user_claims=users,
        access_token_max_age=datetime.timedelta(seconds=args.token_max_age),
    )
    forge_routes(app)
    flow_routes(app)
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, app, threaded=True, ssl_context=(str(cert_file), str(key_file))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"issuer https://127.0.0.1:{server.server_port}", flush=True)
    # Until the test lets go of our stdin (it ends, or is killed).
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
