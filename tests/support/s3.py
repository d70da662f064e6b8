"""A real S3-speaking HTTP server on localhost (moto's ThreadedMotoServer), and the app settings that use it."""
import uuid
from contextlib import contextmanager

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support.servers import free_port, wait_for_port

CREDENTIALS = {"ARTEFATOS_S3_ACCESS_KEY": "teste-acesso", "ARTEFATOS_S3_SECRET_KEY": "teste-segredo-s3",
               "ARTEFATOS_S3_REGION": "us-east-1"}


@contextmanager
def s3_server():
    """moto's S3 server on a free loopback port; yields its URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def new_bucket(url: str) -> dict:
    """A fresh bucket on the server; the app settings (ARTEFATOS_*) that store artefatos in it."""
    bucket = f"artefatos-{uuid.uuid4().hex[:12]}"
    client(url).create_bucket(Bucket=bucket)
    return {"ARTEFATOS_STORAGE": "s3", "ARTEFATOS_S3_URL": url, "ARTEFATOS_S3_BUCKET": bucket, **CREDENTIALS}


def client(url: str):
    """A plain boto3 client for the server (to look at what the app stored, from outside it)."""
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=CREDENTIALS["ARTEFATOS_S3_ACCESS_KEY"],
                        aws_secret_access_key=CREDENTIALS["ARTEFATOS_S3_SECRET_KEY"], region_name="us-east-1")


@pytest.fixture(scope="session")
def s3_url():
    """One S3 server for the test session (import this fixture into a test module to use it)."""
    with s3_server() as url:
        yield url


@pytest.fixture
def s3_settings(app, s3_url, monkeypatch):
    """The app stores artefatos in a fresh bucket of the S3 server for this test; returns the settings."""
    settings = new_bucket(s3_url)
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    return settings
