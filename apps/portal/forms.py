"""Portal forms: the admin's domínio and serviço forms, and each serviço's form built from its schema.

The serviço's form (`form_for`) is a WTForms class made from form_schema_json, rendered with the shared
macro; it only carries what was typed (text, a choice, a box) — the rules (required, regex, bounds, CNPJ,
an active cliente) are checked once, by apps.portal.valores, for the page and the API alike. Several
forms share the /portal page, so each has its own prefix (unique element ids); CSRF is the app's one check
of the form's `csrf_token` (apps.core.security), rendered unprefixed by the template.
"""
import json

from flask import url_for
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice

from apps.auth import roles
from apps.clientes.cnpj import format_cnpj
from apps.clientes.models import Cliente
from apps.core.types import db
from apps.operadoras.forms import WholeNumberField
from apps.operadoras.models import Operadora
from apps.portal.models import Dominio

INPUT_TYPES = {"number": "number", "date": "date", "month": "month"}
MAX_CLIENTES_CHOICES = 2000


class DominioForm(FlaskForm):
    slug = StringField("Identificador (slug)", render_kw={"maxlength": 60, "autocapitalize": "none"})
    nome = StringField("Nome", render_kw={"maxlength": 120})
    ordem = WholeNumberField("Ordem", default=0, render_kw={"min": -10000, "max": 10000})

    def values(self) -> dict:
        return {"slug": self.slug.data, "nome": self.nome.data,
                "ordem": self.ordem.data if self.ordem.data is not None else 0}


class CheckboxListField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class JsonField(TextAreaField):
    """A JSON document typed in a textarea: `data` is the parsed value, or the text when it does not parse
    (the error then says where)."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return json.dumps(self.data, ensure_ascii=False, indent=2) if self.data is not None else ""

    def process_formdata(self, valuelist):
        self.raw_data = valuelist
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            self.data = None
            return
        try:
            self.data = json.loads(text)
        except ValueError as exc:
            self.data = None
            raise ValueError(f"JSON inválido (linha {getattr(exc, 'lineno', '?')}, coluna "
                             f"{getattr(exc, 'colno', '?')}): {getattr(exc, 'msg', exc)}.") from None


class ServicoForm(FlaskForm):
    nome = StringField("Nome", render_kw={"maxlength": 120})
    descricao = TextAreaField("Descrição", render_kw={"rows": 2, "maxlength": 2000})
    dominio_id = SelectField("Domínio", choices=[])
    papeis = CheckboxListField("Quem pode solicitar", choices=[])  # built-in and custom roles, in __init__
    ativo = BooleanField("Ativo (aparece no portal)", default=True)
    form_schema_json = JsonField("Formulário (form_schema_json)", render_kw={"rows": 14, "spellcheck": "false"})
    run_template_json = JsonField("Execução (run_template_json)", render_kw={"rows": 10, "spellcheck": "false"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dominio_id.choices = [SelectChoice("", "Escolha…")] + [
            SelectChoice(str(d.id), d.nome) for d in db.session.scalars(select(Dominio).order_by(Dominio.ordem, Dominio.nome))]
        if self.dominio_id.data is not None:
            self.dominio_id.data = str(self.dominio_id.data)
        chosen = list(self.papeis.data or [])
        self.papeis.choices = [SelectChoice(code, nome) for code, nome in roles.assignable_choices()]
        known = {choice.value for choice in self.papeis.choices}
        self.papeis.choices += [SelectChoice(code, roles.role_name(code)) for code in chosen if code not in known]

    def values(self) -> dict:
        return {"nome": self.nome.data, "descricao": self.descricao.data, "dominio_id": self.dominio_id.data,
                "papeis": list(self.papeis.data or []), "ativo": bool(self.ativo.data),
                "form_schema_json": self.form_schema_json.data, "run_template_json": self.run_template_json.data}


class Lists:
    """The long lists a request's forms choose from (active clientes, operadoras): loaded once per request
    however many forms ask for them, and their <option>s written once (WTForms' own renderer costs about
    0.3 ms per option, and the portal lists the clientes once per form that has a cliente field)."""

    def __init__(self):
        self.choices, self.options, self.many = {}, {}, None

    def many_clientes(self) -> bool:
        """More active clientes than a select should hold: the cliente field is then a search (ClienteBusca)."""
        if self.many is None:
            self.many = db.session.scalar(
                select(Cliente.id).where(Cliente.ativo.is_(True)).offset(MAX_CLIENTES_CHOICES).limit(1)) is not None
        return self.many

    def get(self, kind) -> list:
        if kind not in self.choices:
            self.choices[kind] = (_cliente_choices if kind == "cliente" else _operadora_choices)()
        return self.choices[kind]

    def rendered(self, kind, choices) -> str:
        if kind not in self.options:
            self.options[kind] = "".join(f'<option value="{escape(c.value)}">{escape(c.label)}</option>'
                                         for c in choices)
        return self.options[kind]


class ListSelect(widgets.Select):
    """A select of one of the request's `Lists`; the selected option marked by a plain text replacement."""

    def __init__(self, kind, lists):
        super().__init__()
        self.kind, self.lists = kind, lists

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        options = self.lists.rendered(self.kind, field.choices)
        if field.data:
            chosen = f'<option value="{escape(field.data)}">'
            options = options.replace(chosen, chosen[:-1] + " selected>", 1)
        return Markup(f"<select {widgets.html_params(name=field.name, **kwargs)}>{options}</select>")  # noqa: S704 - values escaped above, html_params escapes


class ClienteBusca(widgets.TextInput):
    """The cliente field when there are too many for a select: the person types a name or CNPJ and picks from
    a datalist that portal_clientes.js fills from /portal/clientes (typing the CNPJ works without scripts)."""

    def __call__(self, field, **kwargs):
        options = f"{field.id}-opcoes"
        kwargs.update({"list": options, "autocomplete": "off", "inputmode": "search",
                       "placeholder": "Digite o nome ou o CNPJ e escolha", "data-busca-url": url_for("portal.clientes")})
        return super().__call__(field, **kwargs) + Markup(f'<datalist id="{escape(options)}"></datalist>')  # noqa: S704 - the id is WTForms' own, escaped


def _cliente_choices():
    rows = db.session.execute(select(Cliente.id, Cliente.nome, Cliente.cnpj).where(Cliente.ativo.is_(True))
                              .order_by(Cliente.nome_busca, Cliente.nome, Cliente.id).limit(MAX_CLIENTES_CHOICES))
    return [SelectChoice(str(row.id), f"{row.nome} ({format_cnpj(row.cnpj)})") for row in rows]


def _operadora_choices():
    rows = db.session.execute(select(Operadora.id, Operadora.codigo, Operadora.nome).where(Operadora.ativo.is_(True))
                              .order_by(Operadora.codigo))
    return [SelectChoice(str(row.id), f"{row.codigo} — {row.nome}") for row in rows]


def _field(spec, lists):
    """The WTForms field of one schema field (render hints only; the rules live in apps.portal.valores)."""
    kind, rules = spec["type"], spec.get("validation") or {}
    label, default = spec["label"], spec.get("default")
    kw = {"required": True} if spec.get("required") else {}
    if kind == "checkbox":
        return BooleanField(label, default=bool(default), render_kw=kw)
    if kind in ("select", "cliente", "operadora"):
        if kind == "select":
            options = [SelectChoice(o, o) if isinstance(o, str) else SelectChoice(o["value"], o["label"])
                       for o in rules.get("options", [])]
            return SelectField(label, choices=[SelectChoice("", "Escolha…")] + options, default=default,
                               render_kw=kw, validate_choice=False)
        if kind == "cliente" and lists.many_clientes():
            return StringField(label, default=default, render_kw=kw, widget=ClienteBusca())
        return SelectField(label, choices=[SelectChoice("", "Escolha…")] + lists.get(kind), default=default,
                           render_kw=kw, validate_choice=False, widget=ListSelect(kind, lists))
    if kind in INPUT_TYPES:
        kw["type"] = INPUT_TYPES[kind]
        for bound in ("min", "max"):
            if rules.get(bound) is not None:
                kw[bound] = rules[bound]
        if kind == "number":
            kw["step"] = "any"
    elif kind == "cnpj":
        kw.update({"maxlength": 18, "autocapitalize": "characters", "placeholder": "00.000.000/0000-00"})
    elif rules.get("max") is not None:
        kw["maxlength"] = rules["max"]
    return StringField(label, default=None if default is None else str(default), render_kw=kw)


def form_class(servico, lists=None):
    """A FlaskForm subclass with one field per schema field, in the schema's order (`lists`: the request's
    shared Lists, so many forms query and write the clientes once)."""
    lists = lists or Lists()
    attrs = {spec["key"]: _field(spec, lists) for spec in servico.fields}
    return type("ServicoRunForm", (FlaskForm,), attrs)


def form_for(servico, formdata=None, lists=None):
    """The serviço's form, prefixed by its id, reading `formdata` (None: the request's, when it posted)."""
    kwargs = {"prefix": f"s{servico.id.hex[:8]}", "meta": {"csrf": False}}
    if formdata is not None:
        kwargs["formdata"] = formdata
    return form_class(servico, lists)(**kwargs)


def answers_of(form, servico) -> dict:
    """What the person typed, by schema key (text as typed; a checkbox as a bool)."""
    return {spec["key"]: form[spec["key"]].data for spec in servico.fields}


def help_of(spec) -> str | None:
    return spec.get("helpText") or None
