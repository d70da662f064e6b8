from flask import Blueprint

bp = Blueprint("graphql_api", __name__, template_folder="templates")
