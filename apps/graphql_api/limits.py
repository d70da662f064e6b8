"""Depth and cost limits, checked on the query's text before anything runs.

The graph can be walked both ways (Operadora → clientes → processos → cliente → operadora → …), so a
short query can ask for millions of rows. Before it runs, each operation is measured: its depth (fields
nested, introspection not counted) and its cost (1 per field, and a list's selection counted `first`
times: `processos(first: 100) { cliente { nome } }` costs 1 + 100 × 3). Over GRAPHQL_MAX_DEPTH or
GRAPHQL_MAX_COST the whole query is refused with a message saying by how much.
"""
from flask import current_app
from graphql import FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode, IntValueNode, VariableNode
from graphql.language import FragmentDefinitionNode, OperationDefinitionNode
from graphql.validation import ValidationRule
from strawberry.extensions import SchemaExtension

CONNECTIONS = frozenset({"operadoras", "clientes", "processos", "execucoes", "faturas", "logs", "aprovacoes", "robos"})


class _Measure:
    def __init__(self, fragments: dict, variables: dict, default_first: int):
        self.fragments, self.variables, self.default_first = fragments, variables, default_first

    def first_of(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value == "first":
                value = argument.value
                if isinstance(value, IntValueNode):
                    return int(value.value)
                if isinstance(value, VariableNode):
                    given = self.variables.get(value.name.value)
                    return int(given) if isinstance(given, int) else self.default_first
        return self.default_first

    def selections(self, selection_set, seen: frozenset) -> tuple[int, int]:
        """(cost, depth) of a selection set; fragments followed once per path (cycles are invalid anyway)."""
        cost = depth = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue  # introspection: what GraphiQL asks for its docs, not data
                below_cost, below_depth = self.selections(selection.selection_set, seen)
                times = self.first_of(selection) if selection.name.value in CONNECTIONS else 1
                cost += 1 + times * below_cost
                depth = max(depth, 1 + below_depth)
            elif isinstance(selection, InlineFragmentNode):
                below_cost, below_depth = self.selections(selection.selection_set, seen)
                cost, depth = cost + below_cost, max(depth, below_depth)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                below_cost, below_depth = self.selections(fragment.selection_set, seen | {name})
                cost, depth = cost + below_cost, max(depth, below_depth)
        return cost, depth


def measure(document, variables: dict | None, default_first: int) -> list[tuple[str, int, int]]:
    """[(operation name, cost, depth)] of every operation of a parsed document."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    measure_ = _Measure(fragments, variables or {}, default_first)
    return [((d.name.value if d.name else "anônima"), *measure_.selections(d.selection_set, frozenset()))
            for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def _rule(variables: dict | None):
    """A validation rule bound to this request's variables (graphql-core gives rules none)."""
    config = current_app.config
    max_depth, max_cost = int(config["GRAPHQL_MAX_DEPTH"]), int(config["GRAPHQL_MAX_COST"])
    default_first = int(config["GRAPHQL_DEFAULT_FIRST"])

    class CostAndDepth(ValidationRule):
        def enter_document(self, node, *_):
            for name, cost, depth in measure(node, variables, default_first):
                if depth > max_depth:
                    self.report_error(GraphQLError(
                        f"A consulta {name} tem profundidade {depth}; o máximo é {max_depth}. "
                        "Peça menos níveis ou faça duas consultas."))
                if cost > max_cost:
                    self.report_error(GraphQLError(
                        f"A consulta {name} custaria {cost:,} pontos; o máximo é {max_cost:,}. Cada lista conta "
                        "`first` vezes o que pede por item: use `first` menor ou peça menos campos.".replace(",", ".")))
            return self.BREAK

    return CostAndDepth


class QueryLimits(SchemaExtension):
    """Adds the cost-and-depth rule, with the request's variables, to the validation of each operation."""

    def on_operation(self):
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, _rule(context.variables))
        yield
