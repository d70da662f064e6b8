#!/usr/bin/env bash
# Copy the front-end files installed from the npm registry into apps/static/vendor.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
dest=apps/static/vendor
rm -rf "$dest" && mkdir -p "$dest/bootstrap" "$dest/bootstrap-icons" "$dest/chartjs" "$dest/swagger-ui" "$dest/graphiql"
cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/css/bootstrap.min.css.map "$dest/bootstrap/"
cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js node_modules/bootstrap/dist/js/bootstrap.bundle.min.js.map "$dest/bootstrap/"
cp -r node_modules/bootstrap-icons/font/bootstrap-icons.min.css node_modules/bootstrap-icons/font/fonts "$dest/bootstrap-icons/"
cp node_modules/chart.js/dist/chart.umd.min.js "$dest/chartjs/"
cp node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/swagger-ui-bundle.js "$dest/swagger-ui/"
# GraphiQL 3 is the last with a browser (UMD) build; it runs on React 18's UMD builds.
cp node_modules/graphiql/graphiql.min.js node_modules/graphiql/graphiql.min.css "$dest/graphiql/"
cp node_modules/react/umd/react.production.min.js node_modules/react-dom/umd/react-dom.production.min.js "$dest/graphiql/"
echo "assets copied to $dest"
