"""Certificates and keys for a throwaway local control plane.

ECDSA P-256 rather than RSA: generation is instant, and kube-apiserver accepts EC keys both for TLS and for
signing ServiceAccount tokens (ES256). Nothing here is meant to outlive the control plane it was made for.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertFiles:
    """Paths of one certificate and its key, PEM encoded."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class ControlPlaneCerts:
    serving_ca: CertFiles
    serving: CertFiles
    client_ca: CertFiles
    admin_client: CertFiles
    service_account_key: Path
    service_account_pub: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
    )


def _make_ca(directory: Path, stem: str, common_name: str) -> tuple[CertFiles, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    files = CertFiles(
        cert=_write(directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM)),
        key=_write(directory / f"{stem}.key", _key_pem(key)),
    )
    return files, key


def _issue(
    directory: Path,
    stem: str,
    ca_files: CertFiles,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    *,
    server: bool,
    extra_ips: tuple[str, ...] = (),
) -> CertFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = x509.load_pem_x509_certificate(ca_files.cert.read_bytes())
    builder = _builder(subject, ca_cert.subject, key.public_key()).add_extension(
        x509.ExtendedKeyUsage(
            [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
        ),
        critical=False,
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes"),
                    x509.DNSName("kubernetes.default"),
                    x509.DNSName("kubernetes.default.svc"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in extra_ips),
                ]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return CertFiles(
        cert=_write(directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM)),
        key=_write(directory / f"{stem}.key", _key_pem(key)),
    )


def generate(directory: Path, extra_ips: tuple[str, ...] = ()) -> ControlPlaneCerts:
    """Write a serving CA and certificate, a client CA with an admin certificate, and an SA key pair.

    `extra_ips` are further addresses of the serving certificate: a node's Pods reach the API server at the
    `kubernetes` Service's ClusterIP and at the address it binds on the node's network.
    """
    directory.mkdir(parents=True, exist_ok=True)
    serving_ca, serving_ca_key = _make_ca(directory, "serving-ca", "vertexops-local-serving-ca")
    client_ca, client_ca_key = _make_ca(directory, "client-ca", "vertexops-local-client-ca")
    serving = _issue(
        directory,
        "serving",
        serving_ca,
        serving_ca_key,
        _name("kube-apiserver"),
        server=True,
        extra_ips=extra_ips,
    )
    # system:masters is the group the API server's RBAC bootstrap binds to cluster-admin.
    admin = _issue(
        directory, "admin", client_ca, client_ca_key, _name("vertexops-admin", "system:masters"), server=False
    )
    sa_key = ec.generate_private_key(ec.SECP256R1())
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ControlPlaneCerts(
        serving_ca=serving_ca,
        serving=serving,
        client_ca=client_ca,
        admin_client=admin,
        service_account_key=_write(directory / "sa.key", _key_pem(sa_key)),
        service_account_pub=_write(directory / "sa.pub", sa_pub),
    )


def issue_client(
    certs: ControlPlaneCerts, stem: str, common_name: str, organization: str | None = None
) -> CertFiles:
    """A client certificate from the control plane's client CA, beside its other files.

    The node's components authenticate as Kubernetes expects them to (`system:node:NAME` in `system:nodes`,
    `system:kube-controller-manager`, ...), so the API server's own RBAC bootstrap and Node authorizer decide
    what they may do, as in a real cluster.
    """
    directory = certs.client_ca.cert.parent
    ca_key = serialization.load_pem_private_key(certs.client_ca.key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    return _issue(directory, stem, certs.client_ca, ca_key, _name(common_name, organization), server=False)
