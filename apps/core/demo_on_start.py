"""`python -m apps.core.demo_on_start`: the demo seed `make run` runs at each start.

It seeds only an empty database (DEMO=1: any database), and opens this month only when the
monthly schedule would have (apps.core.demo.seed_demo); `flask demo seed` stays the explicit way.
"""
import sys

from apps import create_app
from apps.core.demo import seed_if_empty, wanted


def main() -> int:
    with create_app().app_context():
        created = seed_if_empty(force=wanted(), baixar=True)
    if created is None:
        print("Demonstração: o banco já tem dados; nada foi criado (DEMO=1 para criar mesmo assim).")
        return 0
    opened = (f"{created['processos']} processo(s) criados." if created["processos"]
              else "nenhum processo: o mês é aberto pelo agendador, no dia e hora configurados.")
    print(f"Demonstração: {created['operadoras']} operadora(s), {created['clientes']} cliente(s), {opened}")
    if created.get("downloads"):
        print(f"Demonstração: {created['downloads']} download(s) na fila; ao terminarem, as faturas esperam o aprovador "
              "em /aprovacoes (e ele recebe uma mensagem Mock, em /mensagens).")
    if created.get("aprovador"):
        username, password = created["aprovador"]
        print(f"Aprovador de demonstração (grupo de aprovadores de todas as operadoras): Login: {username}   "
              f"Senha: {password}   (guardada em instance/aprovador_password)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
