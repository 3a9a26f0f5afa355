"""The sandboxed kernel finds the data sets even when RNNCOURSE_DATA goes through a link."""

from pathlib import Path

from rnncourse.instructor.sandbox import kernel_sandbox as sandbox


def test_kernel_gets_resolved_data_folders(tmp_path, monkeypatch):
    real = tmp_path / "shared" / "datasets"
    real.mkdir(parents=True)
    link = tmp_path / "elsewhere"
    link.symlink_to(tmp_path / "shared")
    monkeypatch.setenv("RNNCOURSE_DATA", str(link / "datasets"))

    env = sandbox.kernel_env({"RNNCOURSE_DATA": str(link / "datasets")}, tmp_path / "run")

    # the sandbox mounts the real folder, and the kernel is told that path, not the link
    assert env["RNNCOURSE_DATA"] == str(real.resolve())
    assert real.resolve() in sandbox.readonly_dirs()
    assert Path(link / "datasets") not in sandbox.readonly_dirs()


def test_the_sandbox_shows_the_cache_the_loader_uses(monkeypatch):
    """The sandbox asks rnncourse.datasets where the cache is, so the two never
    disagree (a blank RNNCOURSE_CACHE means the default for both)."""
    from rnncourse.teaching import datasets

    monkeypatch.setenv("RNNCOURSE_CACHE", "  ")
    env = sandbox.kernel_env({}, Path("/tmp/run"))
    assert env["RNNCOURSE_CACHE"] == str(datasets.cache_dir().resolve())
