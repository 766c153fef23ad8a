"""The deployable tokenward service: settings, runtime wiring and the FastAPI app factory.

::

    settings = load_settings("tokenward.toml")          # + TOKENWARD__* env + CLI overrides
    app = create_app(settings)                            # no global app; lifespan opens it
    async with open_runtime(settings) as runtime:         # what the CLI uses
        await runtime.auth.create_user("bob", password)
"""

from tokenward.service.app import create_app, create_app_from_env
from tokenward.service.runtime import Runtime, open_runtime
from tokenward.service.settings import Settings, load_settings, validate_for_production

__all__ = [
    "Runtime",
    "Settings",
    "create_app",
    "create_app_from_env",
    "load_settings",
    "open_runtime",
    "validate_for_production",
]
