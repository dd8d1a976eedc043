"""Root conftest of a cpi-preflight checkout.

The plugin is registered by the installed package's `pytest11` entry point, so nothing is
needed here. Only when entry-point plugins are switched off (PYTEST_DISABLE_PLUGIN_AUTOLOAD) is
the plugin loaded from here, so it is never registered twice.
"""

import os

if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
    pytest_plugins = ["cpi_preflight.plugin"]
