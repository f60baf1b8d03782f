"""Request bodies in the OpenAPI document, described by the models that validate them.

Litestar builds a model's schema field by field and loses what the validator enforces: that
unknown fields are refused (`extra="forbid"`), the bounds of an optional integer, and that a
PATCH refuses an explicit null. Pydantic's own JSON schema of the same model knows the first two,
so each request model's properties come from it; a `PatchModel` then drops the `null` branch.

Examples come from the models too: a model's `json_schema_extra={"examples": [...]}` becomes its
schema's `examples` (Litestar reads only a non-standard `example` key), and a `Page[X]` shows one
page of X's first example. Litestar writes the document leaving out every null of every dict,
examples' included (a required `"revoked_at": null` would vanish): they are written again as given.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Example, OpenAPI, OpenAPIMediaType, Operation, RequestBody, Schema

# Litestar's own key naming (request_body -> requestBody), so that its written form can be walked.
from litestar.openapi.spec.base import BaseSchemaObject, _normalize_key
from litestar.plugins import OpenAPISchemaPlugin
from litestar.plugins.pydantic import PydanticSchemaPlugin
from litestar.typing import FieldDefinition
from litestar.utils.predicates import is_class_and_subclass
from pydantic import BaseModel, ConfigDict

from server.pagination import Page
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


def examples(*values: dict[str, Any]) -> Any:
    """A model's configuration carrying its OpenAPI examples (`model_config = examples(...)`).

    Typed Any: SQLModel and pydantic type `model_config` differently, and an example is any JSON.
    """
    return ConfigDict(json_schema_extra={"examples": list(values)})


def model_examples(model: type[BaseModel]) -> list[Any] | None:
    """The model's own examples, or for a `Page[X]` one page of X's first example."""
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, dict) and extra.get("examples"):
        return list(extra["examples"])  # type: ignore[arg-type]
    metadata = model.__pydantic_generic_metadata__
    if metadata["origin"] is Page and (items := model_examples(metadata["args"][0])):
        return [{"items": items[:1], "next_cursor": None}]
    return None


class ModelExamplesSchemaPlugin(OpenAPISchemaPlugin):
    """Asked after RequestModelSchemaPlugin, for every other pydantic model: Litestar's schema, with examples."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return is_class_and_subclass(value, BaseModel)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = PydanticSchemaPlugin.for_pydantic_model(
            field_definition=field_definition, schema_creator=schema_creator
        )
        schema.examples = model_examples(field_definition.annotation)
        return schema


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
        schema.examples = model_examples(model)
        return schema


def json_example(example: dict[str, Any], description: str, media_type: str = "application/json") -> ResponseSpec:
    """A JSON success response documented by its example, for a handler that answers a plain dict."""
    return ResponseSpec(
        data_container=dict[str, Any],
        description=description,
        media_type=media_type,
        examples=[Example(value=example)],
        generate_examples=False,
    )


def documented_body(media_type: str, schema: dict[str, Any]) -> type[Operation]:
    """An operation class whose request body is `schema`, for handlers that read their body by hand
    (a signed body, a multipart upload): Litestar cannot describe what it does not parse."""

    @dataclass
    class DocumentedBodyOperation(Operation):
        def __post_init__(self) -> None:
            # A raw JSON Schema dict where a Schema is typed: Litestar writes it out as it is.
            self.request_body = RequestBody(content={media_type: OpenAPIMediaType(schema=schema)}, required=True)  # type: ignore[arg-type]

    return DocumentedBodyOperation


def _keep_examples(spec: BaseSchemaObject, written: dict[str, Any]) -> dict[str, Any]:
    """Write `spec`'s examples into `written` (its Litestar form) as they are, nulls included."""
    for field in fields(spec):
        value = getattr(spec, field.name, None)
        key = field.metadata.get("alias") or _normalize_key(field.name)
        if value is None or key not in written:
            continue
        if (
            (field.name == "examples" and isinstance(value, list))
            or field.name == "example"
            or (field.name == "value" and isinstance(spec, Example))
        ):
            written[key] = value
        elif isinstance(value, BaseSchemaObject):
            _keep_examples(value, written[key])
        elif isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, BaseSchemaObject) and name in written[key]:
                    _keep_examples(item, written[key][name])
        elif isinstance(value, list):
            for item, item_written in zip(value, written[key], strict=True):
                if isinstance(item, BaseSchemaObject):
                    _keep_examples(item, item_written)
    return written


@dataclass
class _ExamplesKeptOpenAPI(OpenAPI):
    def to_schema(self) -> dict[str, Any]:
        return _keep_examples(self, super().to_schema())


@dataclass
class CanopyOpenAPIConfig(OpenAPIConfig):
    """Litestar's OpenAPI configuration, its document written with the examples as given."""

    def to_openapi_schema(self) -> OpenAPI:
        built = super().to_openapi_schema()
        return _ExamplesKeptOpenAPI(**{field.name: getattr(built, field.name) for field in fields(built)})
