"""The one exception family for user mistakes.

Anything a user can fix by changing their input (a config, a model name, a dataset) raises a
`RayswarmError`. The CLI prints it as one line on stderr and exits with code 2; programming errors
keep their traceback. It lives in graphs/, the bottom layer, so that every layer can raise it.
"""


class RayswarmError(Exception):
    """A mistake in the user's input, reported as one line."""


class ConfigError(RayswarmError):
    """A config (YAML or Python) that does not validate."""


class GraphError(ConfigError):
    """A collaboration graph that is not a valid DAG of known agents."""


class SourceError(RayswarmError):
    """A model source that cannot be resolved."""


class DataError(RayswarmError):
    """A dataset that is missing, empty or malformed."""
