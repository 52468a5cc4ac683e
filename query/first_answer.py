"""The Journey Explorer's HTML with the first answers its page would ask for already inside.

A cold home page waited for its modules, then for ``GET /api/journeys`` and the insight
catalogue: on two cores the server answered the list in ~200 ms (25 ms alone) because Chromium
was busy compiling the page at the same time (bench/web_list.py). Here both answers travel in
the HTML as ``<script type="application/json">`` elements: the catalogue in the head, the list
at the end of the body, sent once it is read while the browser already loads the modules. The
rows are drawn as soon as the modules run.

The page stays a client of the public API: each embedded answer is exactly what the API
answers, and the page uses the list only when the API query string it would have sent
(``list/query.js`` ``apiParams``) equals the one recorded beside it (``data-params``).
Anything this module does not mirror (quick ranges, which are relative to the browser's
clock; page cursors; unusual parameter spellings) simply leaves the page to ask as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from journeytrace.query.responses import dumps

DEFAULT_LIMIT = 50
"""``list/query.js`` ``DEFAULT_LIMIT``: the page's page size when the URL names none."""
LINKED = ("queue", "flow", "agent", "path")
_LEADING_INTEGER = re.compile(r"\s*([+-]?\d+)")
_MODULE_SCRIPT = b'<script type="module"'


def list_api_params(page: QueryParams) -> str | None:
    """The ``GET /api/journeys`` query string the home page asks for at the URL query ``page``
    (as ``readFilters`` then ``apiParams`` build it), or None when it depends on the browser
    (a quick range is relative to its clock) or on paging (``before``)."""
    if any(value.strip() for name in ("range", "before") for value in page.getlist(name)[:1]):
        return None

    def text(name: str) -> str:  # URLSearchParams.get: the first value
        values = page.getlist(name)
        return values[0].strip() if values else ""

    def many(name: str) -> list[str]:
        values = (v.strip() for value in page.getlist(name) for v in value.split(","))
        return list(dict.fromkeys(v for v in values if v))

    found = _LEADING_INTEGER.match(text("limit"))
    limit = int(found.group(1)) if found else 0
    pairs = [("phone", text("phone")), ("from", text("from")), ("to", text("to"))]
    pairs += [("platform", p) for p in many("platform")] + [("insight", i) for i in many("insight")]
    pairs += [(name, text(name)) for name in ("outcome", "status", "interaction_id", *LINKED)]
    pairs.append(("limit", str(limit if 1 <= limit <= 1000 else DEFAULT_LIMIT)))
    return urlencode([(name, value) for name, value in pairs if value])


def _script(element_id: str, body: bytes, attributes: Mapping[str, str] | None = None) -> bytes:
    """A JSON data block. ``<`` is written ``\\u003c`` (same JSON), so no value can end the element."""
    extra = "".join(f' {name}="{escape(value)}"' for name, value in (attributes or {}).items())
    return (f'<script type="application/json" id="{element_id}"{extra}>'.encode()
            + body.replace(b"<", b"\\u003c") + b"</script>\n  ")  # fmt: skip


def with_rules(html: bytes, rules: object) -> bytes:
    """``html`` (index.html) with the insight catalogue (``GET /api/insights/rules``) before
    the page's module script."""
    at = html.index(_MODULE_SCRIPT)
    return html[:at] + _script("jt-insight-rules", dumps(rules)) + html[at:]


def drawn_page(html: bytes, stylesheets: Mapping[str, bytes]) -> bytes:
    """``html`` (index.html, ``with_rules``) for a home page the server draws
    (``list_page.py``): marked ``data-first-frame`` (its head then preloads no module), the
    list's navigation link current, no module script in the head (``first_frame.js``, at the
    end of the body, loads the modules after the first frame), and ``stylesheets`` (file name
    → text) inline, each as ``<style data-href>``: three requests in a new browser context
    delayed the first frame by ~30 ms (BENCHMARKS.md, Journey Explorer)."""
    module = html.index(_MODULE_SCRIPT)
    html = html[:module] + html[html.index(b"</script>", module) + len(b"</script>"):]
    for name, text in stylesheets.items():
        link = f'<link rel="stylesheet" href="/web/{name}">'.encode()
        if link not in html:
            raise ValueError(f"index.html does not link /web/{name}")
        html = html.replace(link, f'<style data-href="/web/{name}">'.encode() + text + b"</style>")
    return (html.replace(b"<html ", b"<html data-first-frame ", 1)
            .replace(b'data-nav="list">', b'data-nav="list" aria-current="page">', 1))  # fmt: skip


def list_block(query: str, answer: object) -> bytes:
    """The list's first answer (``GET /api/journeys?{query}``) as a data block for the end of
    the body: the page's modules run only once the document is parsed, so the head can go out
    (and the modules start loading) while the list is still being read."""
    return _script("jt-first-list", dumps(answer), {"data-params": query})
