import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def prepare_env() -> ModuleType:
    """deploy/compose/prepare_env.py (`make up`'s .env and RabbitMQ users), which is no package."""
    spec = importlib.util.spec_from_file_location("prepare_env", ROOT / "deploy" / "compose" / "prepare_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
