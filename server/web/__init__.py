"""Pages for people (SPEC 12): Jinja templates rendered on the server, in English and Chinese.

`pages.page()` renders a template in the request's language with the security headers; the
templates extend `base.html`; `static.py` serves `/static/` under fingerprinted names; `errors.py`
turns the API's errors into pages on every path outside the JSON API. docs/web.md has the tour.
"""
