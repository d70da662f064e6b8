"""A real browser across maximum-duration reconnects: SSE_MAX_SECONDS=2 ends the stream several times
during one run; the page's EventSource reconnects by itself with Last-Event-ID and shows every stored
line exactly once."""
import tempfile
import uuid
from pathlib import Path

from apps.clientes.cnpj import check_digits
from apps.clientes.models import Cliente
from apps.core.types import db
from apps.operadoras.models import Operadora
from apps.processos import services
from apps.processos.models import ExecucaoLog, Processo
from tests.browser.system import ADMIN_PASSWORD, ADMIN_USER, System, remove_workdir
from tests.conftest import USING_POSTGRES

COUNT_OPENS = """(() => {
  const Original = window.EventSource;
  window.__aberturas = 0;
  function Counting(url, options) {
    const source = new Original(url, options);
    source.addEventListener("open", () => { window.__aberturas += 1; });
    return source;
  }
  Counting.prototype = Original.prototype;
  Counting.CONNECTING = Original.CONNECTING; Counting.OPEN = Original.OPEN; Counting.CLOSED = Original.CLOSED;
  window.EventSource = Counting;
})();"""




class ShortStreams(System):
    """The whole system with streams that end every 2 s."""

    def _env(self, db_url, redis_url):
        env = super()._env(db_url, redis_url)
        env.update({"SSE_MAX_SECONDS": "2", "SSE_KEEPALIVE_SECONDS": "1"})
        return env


def _seed(app):
    with app.app_context():
        base = str(uuid.uuid4().int)[:8] + "0001"
        cliente = Cliente(nome="Reconexões Ltda", cnpj=base + check_digits(base),
                          operadora=Operadora(codigo="VIVO", nome="Vivo", possui_rpa=True))
        processo = Processo(cliente=cliente, competencia="2026-03")
        db.session.add_all([cliente, processo])
        db.session.commit()
        processo_id, execucao_id = str(processo.id), services.executar(processo).id
        db.session.remove()
    return processo_id, execucao_id


def test_the_panel_resumes_across_maximum_duration_ends_without_losing_or_repeating_lines(browser):
    system = ShortStreams(Path(tempfile.mkdtemp(prefix="rpa-system-")), "postgresql" if USING_POSTGRES else "sqlite")
    try:
        system.start({"job_duration": 12, "queue_wait": 0.2, "log_lines": 40, "seed": 5})
        app = system.app()
        processo_id, execucao_id = _seed(app)
        context = browser.new_context(locale="pt-BR")
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.add_init_script(COUNT_OPENS)
        page.goto(system.base_url + "/login")
        page.fill("input[name=login]", ADMIN_USER)
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url(lambda u: "/login" not in u)
        page.goto(f"{system.base_url}/processos/{processo_id}")
        page.wait_for_selector('#live-panel [data-live="badge"][data-state="concluido"]', timeout=120_000)
        seqs = page.eval_on_selector_all('#live-panel [data-live="lines"] .log-line',
                                         "rows => rows.map(r => parseInt(r.dataset.seq, 10))")
        opens = page.evaluate("window.__aberturas")
        context.close()
        with app.app_context():
            stored = list(db.session.scalars(db.select(ExecucaoLog.seq).where(
                ExecucaoLog.execucao_id == execucao_id).order_by(ExecucaoLog.seq)))
            db.session.remove()
        print(f"\n{len(seqs)} lines shown over {opens} connections")
        assert opens >= 3, opens  # the stream really ended and was resumed, more than once
        assert seqs == stored and len(set(seqs)) == len(seqs) and len(seqs) >= 30
    finally:
        system.stop()
        remove_workdir(system)
