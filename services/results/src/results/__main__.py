from crs_shared.http import serve
from results.config import Settings
from results.main import create_app

settings = Settings()
serve(create_app(settings), settings, settings.port)
