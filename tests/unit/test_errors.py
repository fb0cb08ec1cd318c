"""describe_validation_error: pydantic errors as the user reads them (field path + message)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, field_validator, model_validator

from console.core.errors import describe_validation_error, json_path


class Server(BaseModel):
    address: str
    port: int = 22

    @field_validator("address")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if not value.startswith("127."):
            raise ValueError(f"{value} is not a loopback address")
        return value


class Cluster(BaseModel):
    name: str
    servers: list[Server]

    @model_validator(mode="after")
    def _some(self) -> Cluster:
        if not self.servers:
            raise ValueError("at least one server")
        return self


def _error(data: dict) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Cluster.model_validate(data)
    return info.value


def test_names_the_field_path_and_drops_the_model_banner():
    text = describe_validation_error(_error({"name": "c", "servers": [{"address": "10.0.0.1"}]}))
    assert text == "servers[0].address: 10.0.0.1 is not a loopback address"
    assert "validation error" not in text


def test_missing_wrong_type_and_model_level_errors():
    text = describe_validation_error(_error({"servers": [{"address": "127.0.0.1", "port": "x"}]}), sep="\n")
    lines = text.splitlines()
    assert "name: required field is missing" in lines
    assert any(ln.startswith("servers[0].port: ") and 'got "x"' in ln for ln in lines)
    assert describe_validation_error(_error({"name": "c", "servers": []})) == "at least one server"


def test_caps_the_list_with_a_count_of_the_rest():
    servers = [{"address": f"10.0.0.{n}"} for n in range(8)]
    text = describe_validation_error(_error({"name": "c", "servers": servers}), limit=3)
    parts = text.split("; ")
    assert parts[:3] == [f"servers[{n}].address: 10.0.0.{n} is not a loopback address" for n in range(3)]
    assert parts[3:] == ["+5 more"]


def test_json_path():
    assert json_path(("server_list", 0, "device", 1, "rank_id")) == "server_list[0].device[1].rank_id"
    assert json_path(()) == ""
