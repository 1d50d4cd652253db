"""pytest settings for the whole repository: the library's tests and the notebooks that nbval runs."""

NBVAL_OUTPUT_TIMEOUT = 60  # seconds


def pytest_collection_modifyitems(items):
    """nbval waits a fixed 5 s for each output message of a cell that has finished; on a loaded
    machine a message can take longer, which failed a notebook cell with "Timeout of 5 seconds
    exceeded waiting for output". The cell's own time limit is unchanged."""
    for item in items:
        if hasattr(item, "output_timeout"):  # nbval's notebook cells
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT
