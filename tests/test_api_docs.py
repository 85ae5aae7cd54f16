"""The browsable API docs work without the internet: Swagger UI's files come from this install."""

import re


def test_the_api_docs_page_loads_nothing_from_another_host(client, db):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'"(/static/[^"]+)"', html)
    assert urls, html
    assert not [u for u in urls if "//" in u.split("?")[0][:8] or u.startswith("http")], urls
    assets = [u for u in urls if u.startswith("/static/")]
    assert any("swagger-ui" in u for u in assets), assets
    for url in assets:
        assert client.get(url).status_code == 200, url


def test_an_unknown_api_address_is_answered_in_json(client, db):
    response = client.get("/api/members/null/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "/api/members/null/" in response.json()["message"]
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and "text/html" in page["Content-Type"]


def test_the_schema_says_what_each_lf_kind_takes_in_config(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    configs = [
        props["config"]
        for component in schema["components"]["schemas"].values()
        for props in [component.get("properties", {})]
        if "config" in props and "kind" in props
    ]
    assert configs
    for config in configs:
        text = config.get("description", "")
        for key in ('"keywords"', '"pattern"', '"values"', '"source"', '"predictions"', '"url"'):
            assert key in text, (key, text)
