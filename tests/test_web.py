"""Web config: TLS, basic auth and the request bound, with a real HTTPS client."""

from __future__ import annotations

import datetime
import threading
import time

import bcrypt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gpuhealth.web import GuardedHandler, WebConfigError, load_web_config, make_server


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path / "tls.crt"


class Hello(GuardedHandler):
    def handle_get(self):
        if self.path == "/slow":
            time.sleep(1.0)
        self.send_plain(200, b"hello\n")


@pytest.fixture
def tls_server(tmp_path):
    cert = _self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$")
    (tmp_path / "web.yml").write_text(f"tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n"
                                      f"basic_auth_users:\n  prom: '{hashed}'\n")
    server = make_server(Hello, "127.0.0.1:0", load_web_config(tmp_path / "web.yml"), max_requests=2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, cert
    server.shutdown()


def test_tls_and_basic_auth(tls_server):
    server, cert = tls_server
    url = f"https://localhost:{server.server_address[1]}/"
    assert requests.get(url, auth=("prom", "s3cret"), verify=str(cert), timeout=5).text == "hello\n"
    r = requests.get(url, auth=("prom", "wrong"), verify=str(cert), timeout=5)
    assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
    assert requests.get(url, verify=str(cert), timeout=5).status_code == 401
    assert requests.get(url, auth=("nobody", "s3cret"), verify=str(cert), timeout=5).status_code == 401
    # the probes' paths answer without auth; nothing else does
    assert requests.get(url + "-/healthy", verify=str(cert), timeout=5).text == "hello\n"
    assert requests.get(url + "-/healthy/x", verify=str(cert), timeout=5).status_code == 401
    assert requests.post(url + "-/ready", verify=str(cert), timeout=5).status_code == 401
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://localhost:{server.server_address[1]}/", auth=("prom", "s3cret"), timeout=5)


def test_concurrent_requests_are_bounded(tls_server):
    server, cert = tls_server
    url = f"https://localhost:{server.server_address[1]}/slow"
    codes: list[int] = []

    def hit():
        codes.append(requests.get(url, auth=("prom", "s3cret"), verify=str(cert), timeout=10).status_code)

    threads = [threading.Thread(target=hit) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(200) >= 2 and 503 in codes


@pytest.mark.parametrize(("text", "where"), [
    ("tls_server_config:\n  key_file: tls.key\n", "tls_server_config.cert_file"),
    ("basic_auth_users:\n  prom: plaintext\n", "basic_auth_users.prom"),
    ("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_auth_type: Maybe\n",
     "client_auth_type"),
    ("listen: 1\n", "unknown fields"),
])
def test_bad_web_config_names_the_field(tmp_path, text, where):
    _self_signed(tmp_path)
    (tmp_path / "web.yml").write_text(text)
    with pytest.raises(WebConfigError, match=where):
        load_web_config(tmp_path / "web.yml")
