"""Serve the REST API from a Django project's asgi.py, under /api.

Django has no ASGI mount and rejects lifespan events; `combine` routes /api to PgRestApp
(with root_path extended) and everything else to Django, and answers lifespan itself.
"""

from __future__ import annotations

from typing import Any

from pgrest_asgi import PgRestApp, Settings
from pgrest_asgi.contrib.django import combine


def create_application(django_app: Any, settings: Settings) -> Any:
    rest = PgRestApp(settings=settings)
    return combine(django_app, {"/api": rest})


# In a project's asgi.py:
#
#     import os
#     from django.core.asgi import get_asgi_application
#     os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
#     application = create_application(get_asgi_application(), Settings.from_env())
