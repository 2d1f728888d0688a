// GET /api/docs/: Swagger UI on the OpenAPI document of the same mount
// (../schema/ relative to this page), with no request to any other server.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: new URL("../schema/", window.location.href).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
};
