from crs_shared.http import serve
from notifier.config import Settings
from notifier.main import create_app

settings = Settings()
serve(create_app(settings), settings, settings.port)
