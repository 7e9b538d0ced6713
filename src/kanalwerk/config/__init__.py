"""Read and validate `feeds.yaml`.

Every problem becomes one `ConfigError` whose lines read `file:line: key.path: message`, so
the user can jump straight to the spot. `lines` reads YAML remembering where each key
starts, `models` holds the config's shape and its defaults, `messages` turns pydantic's
errors into those lines, and `load` ties them together.
"""

from kanalwerk.config.load import load_config
from kanalwerk.config.models import (
    DURATION_HINT,
    ENGINES,
    AttributionConfig,
    BudgetConfig,
    ChannelConfig,
    Config,
    DeepLConfig,
    Engine,
    FetchConfig,
    LibreTranslateConfig,
    LocalConfig,
    OpenAIConfig,
    ScheduleConfig,
    SiteConfig,
    TranslatorConfig,
    parse_duration,
    parse_size,
)

__all__ = [
    "DURATION_HINT",
    "ENGINES",
    "AttributionConfig",
    "BudgetConfig",
    "ChannelConfig",
    "Config",
    "DeepLConfig",
    "Engine",
    "FetchConfig",
    "LibreTranslateConfig",
    "LocalConfig",
    "OpenAIConfig",
    "ScheduleConfig",
    "SiteConfig",
    "TranslatorConfig",
    "load_config",
    "parse_duration",
    "parse_size",
]
