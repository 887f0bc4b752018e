"""MallCRM's cross-cutting package: what every service uses and no service owns.

Import the submodule you need (``from shared import clock``); this file imports nothing on purpose,
because every Lambda handler imports ``shared`` and cold starts pay for whatever it pulls in
(no boto3, no Powertools, no pydantic here).
"""
