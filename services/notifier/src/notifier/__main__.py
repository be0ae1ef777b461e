from crs_shared.config import settings_from_environment
from crs_shared.http import serve
from notifier.config import Settings
from notifier.main import create_app

settings = settings_from_environment(Settings)
serve(create_app(settings), settings, settings.port)
