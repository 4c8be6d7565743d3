import pytest
from django.test import Client
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db]

def test_home_renders_a_task(sample):
    user = make_user("anna", "annotator")
    c = Client(); c.force_login(user)
    r = c.get("/annotate/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'class="tile"' in html
    open("/tmp/ann/home.html","w").write(html)
