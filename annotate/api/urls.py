from django.urls import path

from annotate.api import tasks

urlpatterns = [
    path("annotate/next-task", tasks.next_task, name="annotate-next-task"),
    path("annotate/me", tasks.me, name="annotate-me"),
    path("annotate/tasks/<str:token>/submit", tasks.submit, name="annotate-submit"),
    path("annotate/tasks/<str:token>/heartbeat", tasks.heartbeat, name="annotate-heartbeat"),
]
