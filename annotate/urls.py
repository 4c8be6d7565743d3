from django.urls import path

from annotate.views import home

app_name = "annotate"

urlpatterns = [
    path("", home.annotate_home, name="home"),
]
