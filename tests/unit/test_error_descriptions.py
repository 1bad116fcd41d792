"""An exception in a one-line message names its class once, whatever its text looks like."""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError

from streams.errors import describe


def test_an_aiokafka_error_is_not_named_twice():
    exc = KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]")
    assert describe(exc) == ("KafkaConnectionError: Unable to bootstrap from "
                             "[('127.0.0.1', 1)]")


def test_an_os_error_gets_its_class_name_before_its_text():
    exc = ConnectionRefusedError(111, "Connection refused")
    assert describe(exc) == "ConnectionRefusedError: [Errno 111] Connection refused"


def test_an_exception_without_text_is_its_class_name():
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(ValueError("   ")) == "ValueError"


def test_an_address_is_quoted_without_its_socket_family():
    exc = KafkaConnectionError("Unable to bootstrap from [('localhost', 9092, "
                               "<AddressFamily.AF_INET: 2>), ('::1', 9092, "
                               "<AddressFamily.AF_INET6: 10>)]")
    assert describe(exc) == ("KafkaConnectionError: Unable to bootstrap from "
                             "[('localhost', 9092), ('::1', 9092)]")
