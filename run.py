"""Entry point: `python run.py` serves the app with Flask's development server (threaded, so the
live-log streams work); `gunicorn -c gunicorn-cfg.py` is how it runs for real (`make run`)."""
import os

from apps import create_app

app = create_app()

if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5050")), threaded=True)
