"""The webhook signing secret is encrypted at rest: the migration encrypts the stored ones with the
app's key (SQLite and PostgreSQL), the model reads them back, a changed key turns the channel off
instead of sending with garbage, and downgrade restores the plaintext."""
import re
from pathlib import Path

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from apps import create_app
from apps.core.types import db
from apps.notificacoes.models import Contato
from tests.factories import UserFactory

BEFORE = re.search(r"^down_revision = ['\"](\w+)", (Path(__file__).resolve().parents[1] / "migrations" / "versions"
                                                   / "9c0d1e2f3a63_webhook_secret_cifrado.py").read_text(), re.M).group(1)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_stored_secrets_are_encrypted_and_come_back_down(app_config, empty_database_url, tmp_path):
    app = create_app(dict(app_config, SQLALCHEMY_DATABASE_URI=empty_database_url, INSTANCE_DIR=tmp_path))
    with app.app_context():
        upgrade(revision=BEFORE)
        user_id = UserFactory().id
        db.session.commit()
        db.session.execute(text("INSERT INTO notificacao_contatos (usuario_id, webhook_url, webhook_secret, "
                                "preferencias_definidas, created_at, updated_at) VALUES (:u, 'https://x.example/h', "
                                ":s, :f, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                           {"u": user_id if db.engine.dialect.name == "postgresql" else user_id.hex, "s": SECRET,
                            "f": False})
        db.session.commit()
        db.session.remove()
        upgrade()
        stored = db.session.scalar(text("SELECT webhook_secret_cifrado FROM notificacao_contatos"))
        assert stored and SECRET not in stored and stored.startswith("gAAAA")  # a Fernet token
        assert db.session.get(Contato, user_id).webhook_secret == SECRET
        db.session.remove()
        downgrade(revision=BEFORE)
        assert db.session.scalar(text("SELECT webhook_secret FROM notificacao_contatos")) == SECRET
        assert "webhook_secret_cifrado" not in {c["name"] for c in inspect(db.engine).get_columns("notificacao_contatos")}
        db.session.remove()
        db.engine.dispose()


def test_a_secret_that_no_longer_decrypts_reads_as_none(app, caplog, monkeypatch):
    user = UserFactory()
    contato = Contato(usuario_id=user.id, webhook_url="https://x.example/h")
    contato.webhook_secret = SECRET
    db.session.add(contato)
    db.session.commit()
    assert SECRET not in contato.webhook_secret_cifrado and contato.webhook_secret == SECRET
    monkeypatch.setitem(app.config, "SECRET_KEY", "outra-chave-secreta-depois-da-troca-0123456789")
    assert contato.webhook_secret is None
    assert "cannot be decrypted" in caplog.text and SECRET not in caplog.text
