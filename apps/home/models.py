"""Finished-run summaries the home dashboard reads instead of the execucoes of 30 days.

Kept by database triggers on execucoes (migrations 9c0d1e2f3a74 and 9c0d1e2f3a81), like processo_totais: every write
counts, whichever code or statement makes it (the worker, a bulk INSERT, an UPDATE that reopens or
re-dates a run, a DELETE, a processo deleted with its runs). A run counts once it is
CONCLUIDO or FALHOU with data_fim set; its operadora is its cliente's when it finished.
"""
import uuid
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from apps.core.types import UTCDateTime, db


class ExecucaoHora(db.Model):
    """Finished runs (CONCLUIDO, FALHOU) per UTC hour of data_fim and status: the runs per local day."""

    __tablename__ = "execucao_horas"
    __table_args__ = {"sqlite_with_rowid": False}  # SQLite: rows stored in key order, read by range

    hora: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, nullable=False)


class ExecucaoDia(db.Model):
    """The same runs per UTC day (its midnight) and status (migration 9c0d1e2f3a81): a day's row is the sum of its
    hours in execucao_horas, so a local day is read from the UTC days it covers and the few hours its midnights
    cut off."""

    __tablename__ = "execucao_dias"
    __table_args__ = {"sqlite_with_rowid": False}  # SQLite: rows stored in key order, read by range

    dia: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, nullable=False)


class ExecucaoDuracao(db.Model):
    """CONCLUIDO runs of a processo per UTC hour, operadora and tipo: their count and summed seconds
    (the exact mean)."""

    __tablename__ = "execucao_duracoes"
    __table_args__ = {"sqlite_with_rowid": False}  # SQLite: rows stored in key order, read by range

    hora: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    operadora_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("operadoras.id", ondelete="CASCADE"), primary_key=True)
    tipo: Mapped[str] = mapped_column(String(20), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    soma: Mapped[float] = mapped_column(Float, nullable=False)


class ExecucaoDuracaoFaixa(db.Model):
    """The same runs per block of UTC days, operadora, tipo and duration bucket (`faixa`, its lower bound in
    seconds; see apps.home.services.FAIXAS): the histogram the p95 is read from. Every run is counted in the
    blocks of 1, 2, 4, 8 and 16 days (`nivel` 0-4) that hold its day; `bloco` is the number of the block's
    first day since 1970-01-01 (a multiple of 2 ** nivel), so a 30-day window is about 8 blocks."""

    __tablename__ = "execucao_duracao_faixas"
    __table_args__ = {"sqlite_with_rowid": False}  # SQLite: rows stored in key order, read by range

    nivel: Mapped[int] = mapped_column(Integer, primary_key=True)
    bloco: Mapped[int] = mapped_column(Integer, primary_key=True)
    operadora_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("operadoras.id", ondelete="CASCADE"), primary_key=True)
    tipo: Mapped[str] = mapped_column(String(20), primary_key=True)
    faixa: Mapped[int] = mapped_column(Integer, primary_key=True)
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    soma: Mapped[float] = mapped_column(Float, nullable=False)
