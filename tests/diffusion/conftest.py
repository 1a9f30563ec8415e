import pytest
import yaml

pytest.importorskip("diffusers")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Tiny Wan (video) and Stable Diffusion (image) folders plus a registry that points at them."""
    from tests.diffusion.tiny import build_tiny_sd, build_tiny_wan

    root = tmp_path_factory.mktemp("models")
    build_tiny_wan(root / "tiny-wan")
    build_tiny_sd(root / "tiny-sd")
    registry = root / "registry.yaml"
    registry.write_text(yaml.safe_dump({"models": [
        {"id": "tiny-wan", "kind": "text-to-video", "pipeline": "WanPipeline", "local_path": str(root / "tiny-wan"),
         "licence": "test weights (random)", "dtype": "float32",
         "defaults": {"width": 16, "height": 16, "frames": 9, "steps": 2, "fps": 8, "guidance": 1.0}},
        {"id": "tiny-sd", "kind": "text-to-image", "pipeline": "StableDiffusionPipeline",
         "local_path": str(root / "tiny-sd"), "licence": "test weights (random)", "dtype": "float32",
         "defaults": {"width": 32, "height": 32, "steps": 2, "guidance": 1.0}},
        {"id": "absent", "kind": "text-to-video", "pipeline": "WanPipeline", "hub_id": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
         "local_path": str(root / "not-downloaded"), "licence": "Apache-2.0",
         "defaults": {"width": 480, "height": 832, "frames": 81, "steps": 30}},
    ]}), encoding="utf-8")
    return root, registry
