import pytest
import yaml

pytest.importorskip("diffusers")

TINY = {"licence": "test weights (random)", "dtype": "float32"}
TINY_VIDEO = {"width": 32, "height": 32, "frame_step": 4, "steps": 2, "guidance": 1.0}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Tiny Wan (text- and image-to-video) and Stable Diffusion (image) folders plus a registry that points at them.

    Several entries share one folder with different timing (longest take, fps, continuation), so the real
    planning runs against one cached pipeline.
    """
    from tests.diffusion.tiny import build_tiny_sd, build_tiny_wan, build_tiny_wan_i2v

    root = tmp_path_factory.mktemp("models")
    build_tiny_wan(root / "tiny-wan")
    build_tiny_wan_i2v(root / "tiny-wan-i2v")
    build_tiny_sd(root / "tiny-sd")
    wan = {"kind": "text-to-video", "pipeline": "WanPipeline", "local_path": str(root / "tiny-wan"), **TINY}
    registry = root / "registry.yaml"
    registry.write_text(yaml.safe_dump({"models": [
        {"id": "tiny-wan", **wan, "continue_with": "tiny-wan-i2v",
         "defaults": {**TINY_VIDEO, "frames": 25, "fps": 8}},
        {"id": "tiny-wan-i2v", "kind": "image-to-video", "pipeline": "WanImageToVideoPipeline",
         "local_path": str(root / "tiny-wan-i2v"), **TINY, "defaults": {**TINY_VIDEO, "frames": 25, "fps": 8}},
        # one take of at most 9 frames (1.1 s): longer shots need continuation takes
        {"id": "tiny-wan-short", **wan, "continue_with": "tiny-wan-i2v",
         "defaults": {**TINY_VIDEO, "frames": 9, "fps": 8}},
        {"id": "tiny-wan-alone", **wan, "defaults": {**TINY_VIDEO, "frames": 9, "fps": 8}},
        # a 16 fps model delivered at 30 fps: the judder case
        {"id": "tiny-wan-16fps", **wan, "continue_with": "tiny-wan-i2v-16fps",
         "defaults": {**TINY_VIDEO, "frames": 41, "fps": 16}},
        {"id": "tiny-wan-i2v-16fps", "kind": "image-to-video", "pipeline": "WanImageToVideoPipeline",
         "local_path": str(root / "tiny-wan-i2v"), **TINY, "defaults": {**TINY_VIDEO, "frames": 41, "fps": 16}},
        {"id": "tiny-sd", "kind": "text-to-image", "pipeline": "StableDiffusionPipeline",
         "local_path": str(root / "tiny-sd"), **TINY, "defaults": {"width": 32, "height": 32, "steps": 2, "guidance": 1.0}},
        {"id": "absent", "kind": "text-to-video", "pipeline": "WanPipeline", "hub_id": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
         "local_path": str(root / "not-downloaded"), "licence": "Apache-2.0",
         "defaults": {"width": 480, "height": 832, "frames": 81, "steps": 30}},
    ]}), encoding="utf-8")
    return root, registry
