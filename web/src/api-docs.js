// The API reference page (/api/docs): Swagger UI over our own OpenAPI document.
/* global SwaggerUIBundle */
window.addEventListener("load", () => {
  SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger",
    deepLinking: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
