"""What the image service is configured with, built once from the settings and handed to each call."""

from __future__ import annotations

from dataclasses import dataclass

from twinstack.config import ImageSettings, Settings
from twinstack.core.image.protections import Protections
from twinstack.core.image.stores import StoreSet, store_set


@dataclass(frozen=True)
class ImageConfig:
    settings: ImageSettings
    stores: StoreSet
    protections: Protections


def image_config(settings: Settings) -> ImageConfig:
    image = settings.image
    protections = Protections.from_settings(image.property_protections)
    return ImageConfig(image, store_set(image, settings.data_dir), protections)
