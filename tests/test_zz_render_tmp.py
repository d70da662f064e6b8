from apps.core.types import db
from apps.operadoras.models import Operadora
def test_render(admin_client):
    op = Operadora(codigo="VIVO", nome="Vivo"); db.session.add(op); db.session.commit()
    html = admin_client.get(f"/operadoras/{op.id}/editar").get_data(as_text=True)
    i = html.index("<form method")
    print(html[i:i+3500])
