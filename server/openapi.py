"""Request bodies in the OpenAPI document, described by the models that validate them.

Litestar builds a model's schema field by field and loses what the validator enforces: that
unknown fields are refused (`extra="forbid"`), the bounds of an optional integer, and that a
PATCH refuses an explicit null. Pydantic's own JSON schema of the same model knows the first two,
so each request model's properties come from it; a `PatchModel` then drops the `null` branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.plugins.pydantic import PydanticSchemaPlugin
from litestar.typing import FieldDefinition
from litestar.utils.predicates import is_class_and_subclass

from server.validation import PatchModel, RequestModel

COMPONENTS = "#/components/schemas/{model}"


# Pydantic writes a number's bounds under their Python names when a validator wraps the type.
_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _as_openapi(schema: Any) -> Any:
    """JSON Schema keywords for the bounds, and no per-property titles (pydantic titles each after its name)."""
    if isinstance(schema, dict):
        return {_KEYWORDS.get(key, key): _as_openapi(value) for key, value in schema.items() if key != "title"}
    if isinstance(schema, list):
        return [_as_openapi(value) for value in schema]
    return schema


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None = None` in a PatchModel means "may be left out", not "may be null"."""
    branches = [branch for branch in schema.get("anyOf", ()) if branch != {"type": "null"}]
    if len(branches) != 1 or "anyOf" not in schema:
        return schema
    rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return {**branches[0], **rest}


class RequestModelSchemaPlugin(OpenAPISchemaPlugin):
    """Asked before Litestar's own pydantic plugin, for `RequestModel` subclasses only."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return is_class_and_subclass(value, RequestModel)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        model: type[RequestModel] = field_definition.annotation
        # Litestar's pass registers the component and those of nested models, which the refs point at.
        schema = PydanticSchemaPlugin.for_pydantic_model(
            field_definition=field_definition, schema_creator=schema_creator
        )
        described = _as_openapi(model.model_json_schema(ref_template=COMPONENTS))
        properties = described["properties"]
        if issubclass(model, PatchModel):
            properties = {
                name: prop if name in model.nullable else _not_null(prop) for name, prop in properties.items()
            }
        schema.properties = properties
        schema.required = described.get("required") or None
        schema.additional_properties = False
        return schema


def documented_body(media_type: str, schema: dict[str, Any]) -> type[Operation]:
    """An operation class whose request body is `schema`, for handlers that read their body by hand
    (a signed body, a multipart upload): Litestar cannot describe what it does not parse."""

    @dataclass
    class DocumentedBodyOperation(Operation):
        def __post_init__(self) -> None:
            # A raw JSON Schema dict where a Schema is typed: Litestar writes it out as it is.
            self.request_body = RequestBody(content={media_type: OpenAPIMediaType(schema=schema)}, required=True)  # type: ignore[arg-type]

    return DocumentedBodyOperation
