"""benchmarks/gpu_suite.py runs end to end on the smoke presets, so it works the day an accelerator is at hand."""
from benchmarks import gpu_suite


def test_the_gpu_suite_measures_steps_and_the_largest_unet_on_the_smoke_presets():
    report = gpu_suite.main(["--smoke", "--only", "vae", "--steps", "1", "--unet-widths", "8", "--memory-budget-mib", "1000"])
    figures = {(f["dtype"], f["steps_per_call"]): f for f in report["steps"]}
    assert set(figures) == {(d, k) for d in ("float32", "bfloat16") for k in (1, 10)}
    for f in figures.values():
        assert f["images_per_s"] > 0 and f["compile_s"] > 0 and f["params"] == 51_220
        assert 0 < f["mfu_measured_peak"] < 2 and f["compiled_memory_mib"] > 0
    # a scanned call does the same work per step as a plain one
    assert figures[("float32", 10)]["flops_per_step"] == figures[("float32", 1)]["flops_per_step"]
    largest = report["largest_unet"]
    assert [t["channels"] for t in largest["fits"]] == [8] and largest["first_too_large"] is None
    assert largest["fits"][0]["params"] == 44_969 and 0 < largest["fits"][0]["compiled_memory_mib"] < 1000
