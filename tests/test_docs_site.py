"""The documentation site: check hints link to their entries, the README to pages that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import checks
from django.test.utils import override_settings

from bulk_triggers import Trigger
from bulk_triggers.checks import check_triggers
from bulk_triggers.conf import check_settings
from bulk_triggers.links import DOCS_URL, check_url, docs_url, with_links
from bulk_triggers.testing import isolated_registry
from tests.testapp.models import Plain

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_CHECK_ID = re.compile(r"bulk_triggers\.[EW]\d{3}")


def emitted_ids() -> set[str]:
    """Return every check id the package's code mentions."""
    return {
        check_id
        for path in (ROOT / "bulk_triggers").rglob("*.py")
        for check_id in _CHECK_ID.findall(path.read_text())
    }


def anchors(page: str) -> set[str]:
    """Return the ids of the headings of a page, rendered as the site renders them."""
    markdown = pytest.importorskip("markdown", reason="the docs extra renders the pages")
    html = markdown.markdown(
        (DOCS / f"{page}.md").read_text(), extensions=["attr_list", "toc", "tables"]
    )
    return set(re.findall(r'<h\d id="([^"]+)"', html))


def test_every_check_id_has_its_entry() -> None:
    """Each check id in the code has a heading on the checks page, and each entry a check."""
    text = (DOCS / "checks.md").read_text()
    entries = set(re.findall(r"^### (\S+) \{#(\S+)\}$", text, re.M))
    assert {heading for heading, _anchor in entries} == emitted_ids()
    assert all(heading == anchor for heading, anchor in entries)


def test_check_urls_point_at_anchors_of_the_checks_page() -> None:
    """The address each hint links to is the checks page, at a heading id it renders."""
    ids = anchors("checks")
    for check_id in sorted(emitted_ids()):
        url = check_url(check_id)
        page, _, anchor = url.removeprefix(DOCS_URL).partition("#")
        assert (page, anchor) == ("checks/", check_id)
        assert anchor in ids


def test_docs_url_is_the_site_url() -> None:
    """The links' base is mkdocs.yml's site_url, and pages are directories under it."""
    config = (ROOT / "mkdocs.yml").read_text()
    assert f"site_url: {DOCS_URL}\n" in config
    assert docs_url("testing", "commit-stage-methods-in-tests") == (
        f"{DOCS_URL}testing/#commit-stage-methods-in-tests"
    )


def test_with_links_ends_each_hint_with_its_entry() -> None:
    """A hint gains its entry's address; a message without hint gets one; no id, no link."""
    messages = with_links(
        [
            checks.Error("a", hint="Fix it.", id="bulk_triggers.E001"),
            checks.Error("b", id="bulk_triggers.E101"),
            checks.Error("c", hint="Other."),
        ]
    )
    assert [m.hint for m in messages] == [
        f"Fix it. See {check_url('bulk_triggers.E001')}",
        f"See {check_url('bulk_triggers.E101')}",
        "Other.",
    ]


def test_emitted_hints_link_to_their_entries() -> None:
    """Messages of the model and settings checks end with the address of their own entry."""
    with isolated_registry():

        class OnPlain(Trigger[Plain]):
            def on_after_update(self, new: list[Plain], old: list[Plain]) -> None:
                pass

        messages = check_triggers()
    with override_settings(BULK_TRIGGERS={"CHUNK_SIZ": 5, "MAX_DEPTH": 0}):
        messages += check_settings()
    assert sorted(m.id for m in messages) == [
        "bulk_triggers.E001",
        "bulk_triggers.E002",
        "bulk_triggers.E100",
        "bulk_triggers.E101",
    ]
    for message in messages:
        assert message.hint.endswith(f" {check_url(message.id)}") or message.hint == (
            f"See {check_url(message.id)}"
        )


def test_readme_links_into_the_site_name_pages_and_anchors_that_exist() -> None:
    """Each README link under the docs' address is a page of docs/ (and a heading of it)."""
    link = re.compile(r"\]\((" + re.escape(DOCS_URL) + r"[^)\s]*)\)")
    targets = link.findall((ROOT / "README.md").read_text())
    assert targets
    for target in targets:
        path, _, anchor = target.removeprefix(DOCS_URL).partition("#")
        page = path.strip("/") or "index"
        assert (DOCS / f"{page}.md").is_file(), target
        assert not anchor or anchor in anchors(page), target


def test_every_link_in_the_code_names_a_page_and_anchor_that_exist() -> None:
    """Each docs_url()/check_url() call with literal arguments points at a real heading."""
    call = re.compile(r"""(docs_url|check_url)\(\s*['"]([^'"]+)['"](?:,\s*['"]([^'"]+)['"])?""")
    calls = [
        found
        for path in (ROOT / "bulk_triggers").rglob("*.py")
        if path.name != "links.py"
        for found in call.findall(path.read_text())
    ]
    assert calls
    for function, first, second in calls:
        page, anchor = ("checks", first) if function == "check_url" else (first, second)
        assert (DOCS / f"{page}.md").is_file(), (function, first, second)
        assert not anchor or anchor in anchors(page), (function, first, second)


@pytest.mark.parametrize(
    ("configured", "check_id"),
    [({"CHUNK_SIZ": 5}, "bulk_triggers.E100"), ({"CHUNK_SIZE": 0}, "bulk_triggers.E101")],
)
def test_settings_errors_link_to_their_check(configured: dict[str, int], check_id: str) -> None:
    """ImproperlyConfigured at the first use of a bad setting ends with its check's entry."""
    from django.core.exceptions import ImproperlyConfigured

    from bulk_triggers import conf

    with override_settings(BULK_TRIGGERS=configured), pytest.raises(ImproperlyConfigured) as bad:
        conf.get("CHUNK_SIZE")
    assert str(bad.value).endswith(f" See {check_url(check_id)}")


def test_depth_error_links_to_the_nesting_guide() -> None:
    """TriggerDepthError's message ends with the address of the nesting section."""
    from bulk_triggers import TriggerDepthError

    error = TriggerDepthError(("a.T.on_after_update",), 16)
    assert str(error).endswith(f" See {docs_url('bypass-and-nesting', 'nesting')}")


def test_built_site_documents_every_public_name_and_check(tmp_path: Path) -> None:
    """mkdocs --strict builds; the reference has every public name, the checks page each id."""
    mkdocs_config = pytest.importorskip("mkdocs.config", reason="the docs extra builds the site")
    from mkdocs.commands.build import build

    import bulk_triggers
    import bulk_triggers.testing

    build(mkdocs_config.load_config(str(ROOT / "mkdocs.yml"), site_dir=str(tmp_path), strict=True))
    reference = (tmp_path / "reference" / "bulk_triggers" / "index.html").read_text()
    testing = (tmp_path / "reference" / "testing" / "index.html").read_text()
    missing = [n for n in bulk_triggers.__all__ if f'id="bulk_triggers.{n}"' not in reference]
    missing += [
        n for n in bulk_triggers.testing.__all__ if f'id="bulk_triggers.testing.{n}"' not in testing
    ]
    assert missing == []
    checks_page = (tmp_path / "checks" / "index.html").read_text()
    for check_id in emitted_ids():
        page, _, anchor = check_url(check_id).removeprefix(DOCS_URL).partition("#")
        assert page == "checks/" and f'id="{anchor}"' in checks_page
