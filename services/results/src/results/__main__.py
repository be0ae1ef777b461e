import uvicorn

from results.config import Settings
from results.main import create_app

settings = Settings()
uvicorn.run(create_app(settings), host=settings.host, port=settings.port, access_log=False, log_config=None)
