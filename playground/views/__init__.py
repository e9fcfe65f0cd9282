"""Playground pages: function views returning TemplateResponse, one module per page."""
