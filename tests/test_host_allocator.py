"""launch.py and the benchmarks re-run themselves under tcmalloc: the environment they re-run with, and the
re-run itself where tcmalloc is installed (.ci/run installs it where it can)."""
import os
import subprocess
import sys

import pytest

from jaxgen import host_allocator
from tests.conftest import ROOT

LIBRARY = "libtcmalloc_minimal.so.4"


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(host_allocator, "tcmalloc_library", lambda: LIBRARY)


def test_the_rerun_preloads_tcmalloc_ahead_of_the_users_preloads(installed):
    environ = host_allocator.tcmalloc_environment({"PATH": "/bin", "LD_PRELOAD": "libmine.so"})
    assert environ["LD_PRELOAD"] == f"{LIBRARY} libmine.so"
    assert environ["PATH"] == "/bin"
    assert int(environ["TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"]) >= 1 << 40
    quiet_by_user = host_allocator.tcmalloc_environment({"TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": "123"})
    assert quiet_by_user["TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"] == "123" and quiet_by_user["LD_PRELOAD"] == LIBRARY


@pytest.mark.parametrize("environ", [
    {"JAXGEN_MALLOC": "system"},  # the user's choice
    {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"},  # already re-run (no loop), or the user's own
    {"LD_PRELOAD": "libmine.so:/opt/libjemalloc.so.2"},  # another replacement malloc is the user's
])
def test_no_rerun_where_the_user_chose_or_a_replacement_is_in_place(installed, environ):
    assert host_allocator.tcmalloc_environment(environ) is None


def test_no_rerun_without_tcmalloc(monkeypatch):
    monkeypatch.setattr(host_allocator, "tcmalloc_library", lambda: None)
    assert host_allocator.tcmalloc_environment({}) is None


def test_an_unknown_choice_is_one_line_naming_the_variable(installed):
    with pytest.raises(SystemExit, match="JAXGEN_MALLOC='jemalloc': expected 'tcmalloc' or 'system'"):
        host_allocator.tcmalloc_environment({"JAXGEN_MALLOC": "jemalloc"})


def test_a_peer_runs_without_our_preload_and_keeps_the_users_others():
    environ = {"LD_PRELOAD": f"/usr/lib/{LIBRARY} libmine.so", "HOME": "/root"}
    assert host_allocator.without_preloaded_allocator(environ) == {"LD_PRELOAD": "libmine.so", "HOME": "/root"}
    assert host_allocator.without_preloaded_allocator({"LD_PRELOAD": LIBRARY}) == {}


needs_tcmalloc = pytest.mark.skipif(host_allocator.tcmalloc_library() is None, reason="tcmalloc is not installed")
MAPPED = (
    "from jaxgen.host_allocator import reexec_under_tcmalloc; reexec_under_tcmalloc(); "
    "print(any('tcmalloc' in line for line in open('/proc/self/maps')))"
)


@needs_tcmalloc
@pytest.mark.parametrize("choice, mapped", [("tcmalloc", "True"), ("system", "False")])
def test_the_process_reruns_with_tcmalloc_mapped(choice, mapped):
    environ = {**host_allocator.without_preloaded_allocator(os.environ), "JAXGEN_MALLOC": choice}
    done = subprocess.run([sys.executable, "-c", MAPPED], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == mapped


@needs_tcmalloc
def test_launch_runs_under_tcmalloc_and_says_so(tmp_path):
    environ = host_allocator.without_preloaded_allocator(os.environ)
    done = subprocess.run(
        [sys.executable, "launch.py", "--workdir", str(tmp_path), "--mode", "sample"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )
    assert "host malloc: libtcmalloc" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"error: {tmp_path} holds no run (no config.json): train one there first"
