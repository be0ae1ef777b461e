from crs_shared.config import settings_from_environment
from crs_shared.http import serve
from auth.config import Settings
from auth.main import create_app

settings = settings_from_environment(Settings)
serve(create_app(settings), settings, settings.port)
