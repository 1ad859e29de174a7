from collector.cli import app

if __name__ == "__main__":  # ingest workers are spawned: they import this module too
    app()
