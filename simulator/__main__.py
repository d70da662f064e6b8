"""CLI: python -m simulator --host 127.0.0.1 --port 8000 [--job-duration 4 ...]."""
from __future__ import annotations

import argparse
import os
import signal
import sys

from werkzeug.serving import make_server

from .app import create_app
from .config import FIELD_TYPES, env_name, from_env, updated

# CLI flag -> (config field, help text). Flags left out keep the env/default value.
FLAGS = {
    "--job-duration": ("job_duration", "segundos em RUNNING (0 = conclui quase na hora)"),
    "--queue-wait": ("queue_wait", "segundos em PENDING"),
    "--log-lines": ("log_lines", "linhas de log durante RUNNING"),
    "--failure-rate": ("failure_rate", "probabilidade de FAILED (0..1)"),
    "--latency": ("latency", "atraso adicionado a cada requisição (s)"),
    "--hang-seconds": ("hang_seconds", "duração da falha 'hang' (s)"),
    "--sse-ping": ("sse_ping", "intervalo dos ': ping' do SSE (s)"),
    "--corrupt-sha256": ("corrupt_sha256", "próximos N downloads com sha256 errado"),
    "--logs-lag": ("logs_lag", "segundos que a última linha do log demora a aparecer após o status final"),
    "--max-active": ("max_active", "máximo de jobs ativos antes de 429 (0 = sem limite)"),
    "--retry-after": ("retry_after", "Retry-After do 429 por saturação (s)"),
    "--operadoras": ("operadoras", "códigos aceitos, separados por vírgula"),
    "--health-details": ("health_details", "/health informa version/running/capacity/robot (false = servidor 1.0)"),
    "--version": ("version", "'version' informada em /health (vazio = não informa)"),
    "--robot-version": ("version", "o mesmo que --version"),
    "--robot-name": ("robot", "'robot' informado em /health (vazio = não informa)"),
    "--capacity": ("capacity", "'capacity' informada em /health (0 = não informa)"),
    "--cancel-supported": ("cancel_supported", "aceita POST /jobs/{id}/cancel (false = 405)"),
    "--cancel-delay": ("cancel_delay", "segundos até um job cancelado terminar FAILED"),
    "--tasks-supported": ("tasks_supported", "oferece /tarefas (false = 404)"),
    "--password": ("password", "senha aceita em /auth/refresh"),
    "--token": ("static_token", "token fixo sempre aceito"),
    "--jwt-secret": ("jwt_secret", "segredo HS256 (gerado se vazio)"),
    "--token-ttl-days": ("token_ttl_days", "validade dos tokens emitidos (dias)"),
    "--seed": ("seed", "semente do gerador aleatório"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m simulator",
                                     description="Simulador da API RPA (contrato openapi.yaml).")
    parser.add_argument("--host", default=os.environ.get("SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SIM_PORT", "8000")))
    parser.add_argument("--control", action="store_true", default=None,
                        help="habilita a API de controle /_sim/* (ou SIM_CONTROL=1)")
    parser.add_argument("--quiet", action="store_true", help="não registra cada requisição")
    for flag, (name, text) in FLAGS.items():
        parser.add_argument(flag, dest=name, default=None, help=f"{text} [{env_name(name)}]")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace):
    """Defaults, then env vars, then CLI flags."""
    flags = {name: getattr(args, name) for name in FIELD_TYPES if getattr(args, name, None) is not None}
    return updated(from_env(), flags)


def _interrupt(*_args) -> None:
    """SIGTERM handler: stop like Ctrl-C."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted."""
    args = parse_args(argv)
    try:
        config = build_config(args)
    except ValueError as exc:
        print(f"configuração inválida: {exc}", file=sys.stderr)
        return 2
    app = create_app(config)
    kwargs = {}
    if args.quiet:
        from .server import QuietHandler
        kwargs["request_handler"] = QuietHandler
    server = make_server(args.host, args.port, app, threaded=True, **kwargs)
    print(f"Simulador da API RPA em http://{args.host}:{server.server_port}", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["simulator"].shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
