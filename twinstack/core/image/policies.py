"""The image service's rules, after Glance's defaults: visibility rules do the real work for reads."""

from __future__ import annotations

from twinstack.core.policy import Rule, anyone

RULES: dict[str, Rule] = {
    "image:get_images": anyone,
    "image:get_image": anyone,
}
