// Swagger UI for /docs over the app's own OpenAPI spec (loaded as a file: the CSP
// allows no inline script).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
});
