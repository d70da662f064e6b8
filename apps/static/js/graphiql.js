// GraphiQL on /api/graphiql: the page gives the endpoint and a short-lived token of the person signed in.
(function () {
  "use strict";
  var box = document.getElementById("graphiql");
  if (!box || !window.GraphiQL) { return; }
  var fetcher = window.GraphiQL.createFetcher({
    url: box.dataset.endpoint,
    headers: { Authorization: "Bearer " + box.dataset.token }
  });
  var app = window.React.createElement(window.GraphiQL, {
    fetcher: fetcher,
    defaultQuery: box.dataset.example,
    defaultEditorToolsVisibility: true
  });
  window.ReactDOM.createRoot(box).render(app);
})();
