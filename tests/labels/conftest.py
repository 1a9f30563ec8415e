"""Label fixtures: a tiny labelled-able MP4, WAV, PNG, JPEG, and an offline test CA for C2PA."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from microdrama.media import run_ffmpeg


@pytest.fixture
def media(tmp_path):
    """Small real files of every supported kind."""
    png = tmp_path / "frame.png"
    Image.fromarray((np.random.default_rng(0).random((96, 54, 3)) * 255).astype("uint8")).save(png)
    jpg = tmp_path / "frame.jpg"
    Image.open(png).save(jpg, quality=90)
    wav = tmp_path / "line.wav"
    mp4 = tmp_path / "clip.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-ar", "22050", str(wav)])
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=108x192:rate=15:duration=1", "-f", "lavfi", "-i",
                "sine=frequency=220:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                "-shortest", str(mp4)])
    return {"mp4": mp4, "wav": wav, "png": png, "jpeg": jpg}


def exiftool() -> str:
    path = shutil.which("exiftool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must read labels with exiftool (Debian libimage-exiftool-perl; .ci/run installs it)")
        pytest.skip("exiftool not installed (apt-get install libimage-exiftool-perl)")
    return path


def exif_tags(path) -> str:
    return subprocess.run([exiftool(), "-a", "-G1", "-s", str(path)], capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A throwaway root CA and an ES256 signing certificate, made offline."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("ca")
    now = dt.datetime.now(dt.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "microdrama test studio")])

    def usage(ca):
        return x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                             encipher_only=False, decipher_only=False)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Test Root")).issuer_name(name("Test Root"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("Test Signer")).issuer_name(name("Test Root"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "chain.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (folder / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (folder / "root.pem").write_bytes(ca.public_bytes(pem))
    return folder
