"""Secure mode's certificates: a CA and one server certificate, made once with openssl.

`SECURE=true make up` (secure.env) turns TLS and accounts on for our own
servers; before they start, `ensure` makes, in $STATE_DIR/tls:
  ca.pem        the CA every client trusts (KAFKA/CASSANDRA/MYSQL_SSL_CA_FILE)
  server.pem    the servers' certificate, for every address they listen on
  server.key    its key (MariaDB reads PEM)
  server.p12    both, as the PKCS12 key store Kafka and Cassandra read, locked
                with TLS_KEYSTORE_PASSWORD (given to openssl through its
                environment, never its arguments)
"""

import os
import subprocess
import tempfile
from pathlib import Path

from pipeline.settings import Settings

DAYS = "825"  # the longest validity current TLS clients accept for a server certificate


def addresses(settings: Settings) -> list[str]:
    """Subject alternative names: every host the servers listen on, and localhost."""
    hosts = {settings.kafka_host, settings.cassandra_host, settings.mysql_host, *settings.cassandra_nodes}
    hosts |= {server.rsplit(":", 1)[0] for server in settings.kafka_bootstrap.split(",")}
    names = [f"IP:{host}" if host.replace(".", "").isdigit() else f"DNS:{host}" for host in sorted(hosts)]
    return [*names, "DNS:localhost"]


def openssl(*arguments: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(["openssl", *arguments], capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"tls: openssl {arguments[0]} failed: {done.stderr.strip().splitlines()[-1]}")


def ensure(settings: Settings) -> str:
    """Make the CA and the server certificate unless they exist; what was done."""
    tls = settings.state_path / "tls"
    if not settings.tls_keystore_password.get_secret_value():
        raise ValueError("TLS_KEYSTORE_PASSWORD is empty: set it in .env (`make setup` generates one)")
    if (tls / "server.p12").exists():
        return f"kept {tls}"
    tls.mkdir(parents=True, exist_ok=True)
    tls.chmod(0o700)
    ca_key, ca, key, cert = tls / "ca.key", tls / "ca.pem", tls / "server.key", tls / "server.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
            "-days", DAYS, "-subj", "/CN=sales pipeline secure-mode CA")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        request, extensions = Path(scratch) / "server.csr", Path(scratch) / "san.cnf"
        extensions.write_text(f"subjectAltName={','.join(addresses(settings))}\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request),
                "-subj", "/CN=localhost")  # fmt: skip
        openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                "-out", str(cert), "-days", DAYS, "-extfile", str(extensions))  # fmt: skip
    password = {**os.environ, "TLS_KEYSTORE_PASSWORD": settings.tls_keystore_password.get_secret_value()}
    store = tls / "server.p12"
    openssl("pkcs12", "-export", "-in", str(cert), "-inkey", str(key), "-certfile", str(ca), "-name", "server",
            "-out", f"{store}.new", "-passout", "env:TLS_KEYSTORE_PASSWORD", env=password)  # fmt: skip
    for secret in (ca_key, key, Path(f"{store}.new")):
        secret.chmod(0o600)
    Path(f"{store}.new").rename(store)  # last: its presence means the rest is there
    return f"made a CA and a certificate for {', '.join(addresses(settings))} in {tls}"
