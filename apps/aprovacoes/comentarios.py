"""A processo's thread of comments: shown on the processo page, in its history and in the inbox."""
from sqlalchemy import func, select

from apps.aprovacoes.models import Comentario
from apps.core import audit
from apps.core.errors import ServiceError
from apps.core.types import db

MAX_TEXTO = 2000


def comentar(processo, by, texto) -> Comentario:
    """Add a comment (1 to 2,000 characters); audited, so it also shows in the processo's history. Flushes."""
    if not isinstance(texto, str) or not texto.strip():
        raise ServiceError("Escreva o comentário.", 422, {"texto": "Escreva o comentário."})
    texto = texto.strip()
    if len(texto) > MAX_TEXTO:
        raise ServiceError(f"O comentário pode ter no máximo {MAX_TEXTO} caracteres.", 422,
                           {"texto": f"No máximo {MAX_TEXTO} caracteres (este tem {len(texto)})."})
    comentario = Comentario(processo_id=processo.id, user_id=getattr(by, "id", None), texto=texto)
    db.session.add(comentario)
    db.session.flush()
    audit.record("comentario_adicionado", entity=processo, user=by, detail=texto[:1000])
    return comentario


def do_processo(processo_id) -> list:
    """The thread, oldest first."""
    return list(db.session.scalars(select(Comentario).where(Comentario.processo_id == processo_id)
                                   .order_by(Comentario.created_at, Comentario.id)))


def contagem(processo_ids) -> dict:
    """{processo_id: number of comments} for a page of processos (one query)."""
    ids = list(processo_ids)
    if not ids:
        return {}
    return dict(db.session.execute(select(Comentario.processo_id, func.count()).where(Comentario.processo_id.in_(ids))
                                   .group_by(Comentario.processo_id)).all())


def serialize(comentario) -> dict:
    return {"id": str(comentario.id), "processo_id": str(comentario.processo_id),
            "usuario_id": str(comentario.user_id) if comentario.user_id else None,
            "usuario": comentario.user.username if comentario.user else None, "texto": comentario.texto,
            "created_at": comentario.created_at.isoformat()}
