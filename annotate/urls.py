from django.urls import path

from annotate.views import home

app_name = "annotate"

urlpatterns = [
    path("", home.annotate_home, name="home"),
    path("tasks/<str:token>/submit", home.task_submit_form, name="task-submit"),
    path("join/<str:token>/", home.join, name="join"),
]
