"""benchmarks/gpu_suite.py runs end to end on the smoke presets, so it works the day an accelerator is at hand."""
import pytest

from benchmarks import gpu_suite


def test_the_gpu_suite_measures_every_step_figure_on_the_smoke_presets():
    report = gpu_suite.main(["--smoke", "--only", "vae", "--steps", "1", "--skip-largest-unet"])
    figures = {(f["dtype"], f["steps_per_call"]): f for f in report["steps"]}
    assert set(figures) == {(d, k) for d in ("float32", "bfloat16") for k in (1, 10)}
    for f in figures.values():
        assert f["images_per_s"] > 0 and f["compile_s"] > 0 and f["params"] == 51_220
        assert 0 < f["mfu_measured_peak"] < 2 and f["compiled_memory_mib"] > 0
    # a scanned call does the same work per step as a plain one
    assert figures[("float32", 10)]["flops_per_step"] == figures[("float32", 1)]["flops_per_step"]
    assert "largest_unet" not in report


@pytest.mark.slow
def test_the_largest_unet_search_stops_at_the_memory_budget():
    largest = gpu_suite.largest_unet(True, [8, 16], budget_mib=1000)
    assert [t["channels"] for t in largest["fits"]] == [8, 16] and largest["first_too_large"] is None
    assert largest["fits"][0]["params"] == 44_969 and largest["fits"][1]["params"] > 3 * largest["fits"][0]["params"]
    tight = gpu_suite.largest_unet(True, [8, 16], budget_mib=largest["fits"][0]["compiled_memory_mib"] + 0.01)
    assert [t["channels"] for t in tight["fits"]] == [8] and tight["first_too_large"]["channels"] == 16
