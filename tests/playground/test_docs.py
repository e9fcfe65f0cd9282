"""The Playground's Docs pages: the API reference of the repository, rendered for signed-in users."""
import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_api_reference_page_renders_docs_api_md(alice):
    web = Client()
    web.force_login(alice)
    page = web.get("/docs/api/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h2>Train: <code>POST /v1/train</code></h2>" in html
    assert "<table>" in html  # the field tables are tables, not pipes
    assert 'href="/docs/api/"' in web.get("/docs/").content.decode()


def test_the_api_reference_needs_a_session(client):
    assert client.get("/docs/api/").status_code == 302
