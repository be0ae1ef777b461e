from crs_shared.http import serve
from registration.config import Settings
from registration.main import create_app

settings = Settings()
serve(create_app(settings), settings, settings.port)
