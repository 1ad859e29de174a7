"""The evaluation worker: scheduling, watermarks, sampling and runs of the scorers."""
