"""JupyterLab's news prompt, as a student starting the course's JupyterLab for the first time.

Unless told otherwise, JupyterLab 4 greets every new user with a notification
"Would you like to get notified about official Jupyter news?" that stays until
answered, over the first lesson. The course turns it off with a default of its
own (``jupyter-config/labconfig/default_setting_overrides.json``: ``fetchNews``
"false" in ``@jupyterlab/apputils-extension:notification``), which ``make lab``
puts in force through ``JUPYTER_CONFIG_PATH``; a user who wants the news can
still turn it on in the Settings Editor.

Each scenario starts a JupyterLab of its own for a fresh user (no user
settings at all): once with the course's defaults, as ``make lab`` starts it,
and once without them, to show that the check sees the prompt when it is there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")

from lab_server import COURSE_JUPYTER_CONFIG, running_lab  # noqa: E402
from notebook_ui import ACTION_MS, PAGE_LOAD_MS, open_lab  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

NEWS_PROMPT = "Would you like to get notified about official Jupyter news?"
PLUGIN = "@jupyterlab/apputils-extension:notification"
COURSE_DEFAULTS = COURSE_JUPYTER_CONFIG / "labconfig" / "default_setting_overrides.json"
# JupyterLab asks as soon as the page is restored and the plugin's settings are
# loaded (a second or so); without the course's defaults it shows within this:
PROMPT_MS = 30_000
# With them, the page is watched this long after it is restored.
QUIET_MS = 5_000


@pytest.fixture
def fresh_lab(request, chromium, tmp_path_factory):
    """A JupyterLab for a user with no settings; ``request.param``: the course's defaults on."""
    with running_lab(
        tmp_path_factory.mktemp("fresh-lab"), user_settings={}, course_settings=request.param
    ) as server:
        yield server


@pytest.fixture
def fresh_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(ACTION_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_the_course_defaults_name_real_settings():
    """Each default the course ships is a setting of the installed JupyterLab, validly valued."""
    jsonschema = pytest.importorskip("jsonschema")  # a dependency of jupyterlab_server
    from jupyterlab.commands import get_app_dir

    schemas = Path(get_app_dir()) / "schemas"
    overrides = json.loads(COURSE_DEFAULTS.read_text(encoding="utf-8"))
    assert overrides[PLUGIN]["fetchNews"] == "false"
    for plugin, values in overrides.items():
        package, _, name = plugin.partition(":")
        schema_path = schemas / package / f"{name}.json"
        assert schema_path.is_file(), f"{COURSE_DEFAULTS.name}: no plugin {plugin} ({schema_path})"
        properties = json.loads(schema_path.read_text(encoding="utf-8"))["properties"]
        for key, value in values.items():
            assert key in properties, f"{plugin} has no setting {key!r}"
            jsonschema.validate(value, properties[key])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fresh_lab", [True], indirect=True, ids=["course defaults"])
def test_no_news_prompt_with_the_course_defaults(fresh_lab, fresh_page):
    """A fresh user of the course's JupyterLab is not asked about Jupyter news."""
    answer = fresh_lab.api("GET", f"lab/api/settings/{PLUGIN}")
    assert "fetchNews" not in answer["settings"], "not a fresh user: fetchNews is a user setting"
    default = answer["schema"]["properties"]["fetchNews"]["default"]
    assert default == "false", f"the course's default is not applied: fetchNews {default!r}"
    open_lab(fresh_page, fresh_lab)
    fresh_page.wait_for_function(
        "() => window.jupyterapp !== undefined && window.jupyterapp.restored !== undefined",
        timeout=PAGE_LOAD_MS,
    )
    fresh_page.evaluate("async () => { await window.jupyterapp.restored; }")
    fresh_page.wait_for_timeout(QUIET_MS)
    expect(fresh_page.get_by_text(NEWS_PROMPT)).to_have_count(0)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fresh_lab", [False], indirect=True, ids=["no course defaults"])
def test_news_prompt_shows_without_the_course_defaults(fresh_lab, fresh_page):
    """Without the course's default JupyterLab asks: the check above would see the prompt."""
    open_lab(fresh_page, fresh_lab)
    expect(fresh_page.get_by_text(NEWS_PROMPT)).to_be_visible(timeout=PROMPT_MS)
