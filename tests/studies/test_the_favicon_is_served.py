"""Browsers ask every page's site for /favicon.ico: it leads to our icon, not a 404."""

from __future__ import annotations

from django.test import Client


def test_favicon_ico_leads_to_the_icon(db):
    response = Client().get("/favicon.ico", follow=True)
    assert response.redirect_chain[0] == ("/static/readingcenter/favicon.svg", 301)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(response.streaming_content)
