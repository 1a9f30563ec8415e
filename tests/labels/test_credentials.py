import pytest

from microdrama.labels.apply import LabelsConfig, label_file
from microdrama.labels.check import check_file
from microdrama.labels.credentials import SigningConfig, is_ai_created, read_credentials

pytest.importorskip("c2pa")


def config(ca):
    return LabelsConfig(signing=SigningConfig(cert_chain=ca / "chain.pem", private_key=ca / "key.pem",
                                              trust_anchors=ca / "root.pem"), require_c2pa=True)


@pytest.mark.parametrize("kind", ["mp4", "png", "jpeg", "wav"])
def test_signed_file_is_valid_then_one_flipped_byte_makes_it_invalid(media, test_ca, kind):
    path = media[kind]
    label_file(path, config(test_ca), produce_id="t-1")
    state, manifest = read_credentials(path, test_ca / "root.pem")
    assert state in ("Valid", "Trusted") and is_ai_created(manifest)
    assert check_file(path, require_c2pa=True, trust_anchors=test_ca / "root.pem", visible=False).ok

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    state, _ = read_credentials(path, test_ca / "root.pem")
    assert state == "Invalid"
    assert not check_file(path, require_c2pa=True, trust_anchors=test_ca / "root.pem", visible=False).ok


def test_missing_credentials_fail_only_when_required(media):
    assert check_file(media["png"], require_c2pa=False).clauses[-1].ok
    assert not check_file(media["png"], require_c2pa=True).clauses[-1].ok


def test_missing_certificate_files_are_a_clear_error(media, tmp_path):
    from microdrama.errors import InputError

    cfg = LabelsConfig(signing=SigningConfig(cert_chain=tmp_path / "nope.pem", private_key=tmp_path / "k.pem"))
    with pytest.raises(InputError, match="does not exist"):
        label_file(media["png"], cfg, produce_id="x")
