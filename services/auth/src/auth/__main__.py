from crs_shared.http import serve
from auth.config import Settings
from auth.main import create_app

settings = Settings()
serve(create_app(settings), settings, settings.port)
